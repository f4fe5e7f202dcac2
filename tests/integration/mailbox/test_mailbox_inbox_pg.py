"""The inbox on PostgreSQL: filters, orderings, paging and totals over a seeded mailbox, hidden and
destroyed messages never listed, the access rule, and the plan using the mailbox indexes."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.mailbox_store import SqlMailboxStore
from voicemail.db.migrate import upgrade
from voicemail.db.models import MessageRow
from voicemail.domain.errors import InvalidInput, NotFound
from voicemail.domain.mailbox import InboxQuery, Viewer
from voicemail.domain.models import MailboxRef
from voicemail.services.inbox import check_query, require_listing, to_item

pytestmark = pytest.mark.postgres

BOX = MailboxRef("default", "1001")
OTHER = MailboxRef("default", "1002")
OWNER = Viewer("alice", frozenset({"owner"}), (BOX,))
ADMIN = Viewer("root", frozenset({"administrator"}), ())
STRANGER = Viewer("bob", frozenset({"owner"}), (OTHER,))
CALLERS = [("internal", '"Bob Internal" <1002>', "Bob Internal", "1002", False),
           ("external", "+12025550123", None, None, False),
           ("external", "Unknown", None, None, True)]


def seed(engine: Engine, box: MailboxRef, n: int, rng: random.Random) -> list[dict[str, object]]:
    now = dt.datetime.now(dt.UTC)
    rows: list[dict[str, object]] = []
    for i in range(n):
        kind, raw, name, number, withheld = CALLERS[i % 3]
        rows.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128))), "context": box.context, "mailbox": box.mailbox,
            "msg_id": f"{1795000000 + i}-{i:08x}", "state": rng.choice(["stripped"] * 8 + ["vanished", "destroyed"]),
            "folder": rng.choice(["INBOX", "Old", "Old", "Urgent", "Work"]),
            "origtime": 1795000000 + rng.randrange(10**6),
            "duration": rng.randrange(1, 600), "urgent": rng.random() < 0.1, "caller_kind": kind,
            "callerid_raw": raw, "caller_name": name, "caller_number": number, "caller_withheld": withheld,
            "caller_context": "", "envelope": b"", "attempts": 0, "last_error": "", "discovered_at": now,
            "updated_at": now, "hidden_at": now if rng.random() < 0.05 else None, "wrapped_dek": None})
    with engine.begin() as conn:
        for start in range(0, n, 5000):
            conn.execute(insert(MessageRow), rows[start:start + 5000])
    return rows


World = tuple[SqlMailboxStore, list[dict[str, object]], Engine]


@pytest.fixture
def world(pg_url: str) -> Iterator[World]:
    engine = make_engine(pg_url)
    upgrade(engine)
    rng = random.Random(42)
    rows = seed(engine, BOX, 3000, rng)
    seed(engine, OTHER, 500, rng)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE messages"))
    yield SqlMailboxStore(make_sessionmaker(engine)), rows, engine
    engine.dispose()


def expected(rows: list[dict[str, object]], q: InboxQuery) -> list[dict[str, object]]:
    def keep(r: dict[str, object]) -> bool:
        if r["state"] != "stripped" or r["hidden_at"] is not None:
            return False
        new = r["folder"] in ("INBOX", "Urgent")
        if q.folder is not None and new != (q.folder == "INBOX"):
            return False
        if q.urgent_only and not r["urgent"]:
            return False
        kind = "internal" if r["caller_kind"] == "internal" else ("anonymous" if r["caller_withheld"] else "external")
        return q.caller_kind is None or kind == q.caller_kind

    key = {"newest": lambda r: (-r["origtime"], _neg(r["id"])), "oldest": lambda r: (r["origtime"], r["id"]),
           "longest": lambda r: (-r["duration"], -r["origtime"], _neg(r["id"])),
           "shortest": lambda r: (r["duration"], -r["origtime"], _neg(r["id"]))}[q.sort]
    return sorted((r for r in rows if keep(r)), key=key)


def _neg(text_id: object) -> tuple[int, ...]:
    return tuple(-ord(c) for c in str(text_id))


@pytest.mark.parametrize("q", [
    InboxQuery(), InboxQuery(folder="INBOX"), InboxQuery(folder="Old", sort="oldest", offset=40, limit=25),
    InboxQuery(urgent_only=True, sort="longest"), InboxQuery(caller_kind="anonymous", sort="shortest"),
    InboxQuery(caller_kind="external", folder="INBOX", offset=10, limit=200), InboxQuery(caller_kind="internal"),
    InboxQuery(offset=5000)])
def test_filters_sorting_paging_and_total(world: World, q: InboxQuery) -> None:
    store, rows, _engine = world
    items, total = store.inbox(BOX, q)
    want = expected(rows, q)
    assert total == len(want)
    assert [r.id for r in items] == [r["id"] for r in want[q.offset:q.offset + q.limit]]


def test_hidden_and_destroyed_messages_never_appear(world: World) -> None:
    store, rows, _engine = world
    hidden = next(r for r in rows if r["hidden_at"] is not None and r["state"] == "stripped")
    destroyed = next(r for r in rows if r["state"] == "destroyed")
    everything = set()
    offset = 0
    while True:
        items, total = store.inbox(BOX, InboxQuery(limit=200, offset=offset))
        everything |= {i.id for i in items}
        offset += 200
        if offset >= total:
            break
    assert hidden["id"] not in everything and destroyed["id"] not in everything
    assert store.visible(str(hidden["id"])) is None and store.visible(str(destroyed["id"])) is None


def test_owner_and_administrator_may_list_nobody_else(world: World) -> None:
    store, _rows, _engine = world
    require_listing(OWNER, BOX)
    require_listing(ADMIN, BOX)
    with pytest.raises(NotFound):
        require_listing(STRANGER, BOX)
    items, _ = store.inbox(BOX, InboxQuery(caller_kind="external"))
    assert to_item(items[0], OWNER).caller_number == "+12025550123"
    assert to_item(items[0], ADMIN).caller_number is None
    with pytest.raises(InvalidInput):
        check_query(InboxQuery(limit=500))


def test_the_inbox_query_walks_a_mailbox_index(world: World) -> None:
    _store, _rows, engine = world
    with engine.connect() as conn:
        plan = "\n".join(r[0] for r in conn.execute(text(
            "EXPLAIN SELECT id FROM messages WHERE site = 'default' AND context = 'default' AND mailbox = '1001' "
            "AND state IN ('discovered', 'sealed', 'stripped') AND hidden_at IS NULL "
            "ORDER BY origtime DESC, id DESC LIMIT 50")))
    assert "ix_messages_box" in plan, plan


def test_totals_follow_every_change_on_postgresql(pg_url: str) -> None:
    from tests.unit.services.test_mailbox_counts import check_counts_follow_every_change

    engine = make_engine(pg_url)
    upgrade(engine)
    check_counts_follow_every_change(engine)
    engine.dispose()
