"""The trigger-kept inbox totals (mailbox_counts) stay equal to a COUNT over the messages through
inserts, every kind of update and deletes (SQLite here; PostgreSQL in tests/integration/mailbox)."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Delete, Update, delete, func, insert, select, text, update
from sqlalchemy.engine import Engine

from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.mailbox_store import SqlMailboxStore
from voicemail.db.migrate import upgrade
from voicemail.db.models import MessageRow
from voicemail.domain.mailbox import InboxQuery
from voicemail.domain.models import MailboxRef

BOXES = (MailboxRef("default", "1001"), MailboxRef("default", "1002"))
STATES = ("discovered", "sealed", "stripped", "vanished", "shredding", "destroyed")
FOLDERS = ("INBOX", "Old", "Urgent", "Work")


def _row(rng: random.Random, i: int) -> dict[str, object]:
    box = rng.choice(BOXES)
    kind = rng.choice(("internal", "external", "external"))
    now = dt.datetime.now(dt.UTC)
    return {"id": str(uuid.UUID(int=rng.getrandbits(128))), "context": box.context, "mailbox": box.mailbox,
            "msg_id": f"{1795000000 + i}-{i:08x}", "state": rng.choice(STATES), "folder": rng.choice(FOLDERS),
            "origtime": 1795000000 + i, "duration": rng.randrange(1, 100), "urgent": rng.random() < 0.3,
            "caller_kind": kind, "callerid_raw": rng.choice(("Unknown", "+12025550123", '"A" <1001>')),
            "caller_context": "", "envelope": b"", "attempts": 0, "last_error": "", "discovered_at": now,
            "updated_at": now, "hidden_at": now if rng.random() < 0.2 else None}


def check_counts_follow_every_change(engine: Engine) -> None:
    rng = random.Random(7)
    rows = [_row(rng, i) for i in range(400)]
    with engine.begin() as conn:
        conn.execute(insert(MessageRow), rows)  # caller_withheld from its insert-time default
    store = SqlMailboxStore(make_sessionmaker(engine))
    ids = [str(r["id"]) for r in rows]
    now = dt.datetime.now(dt.UTC)
    changes: list[Callable[[str], Update | Delete]] = [
        lambda i: update(MessageRow).where(MessageRow.id == i).values(folder=rng.choice(FOLDERS)),
        lambda i: update(MessageRow).where(MessageRow.id == i).values(state=rng.choice(STATES)),
        lambda i: update(MessageRow).where(MessageRow.id == i).values(hidden_at=rng.choice((None, now))),
        lambda i: update(MessageRow).where(MessageRow.id == i).values(urgent=rng.random() < 0.5),
        lambda i: update(MessageRow).where(MessageRow.id == i).values(caller_kind=rng.choice(("internal", "external"))),
        lambda i: update(MessageRow).where(MessageRow.id == i).values(caller_withheld=rng.random() < 0.5),
        lambda i: update(MessageRow).where(MessageRow.id == i).values(mailbox=rng.choice(BOXES).mailbox),
        lambda i: update(MessageRow).where(MessageRow.id == i).values(duration=5, last_error="x"),  # not watched
        lambda i: delete(MessageRow).where(MessageRow.id == i),
    ]
    for _round in range(3):
        with engine.begin() as conn:
            for mid in rng.sample(ids, 150):
                conn.execute(rng.choice(changes)(mid))
        for box, folder, urgent, kind in itertools.product(BOXES, (None, "INBOX", "Old"), (False, True),
                                                           (None, "internal", "external", "anonymous")):
            q = InboxQuery(folder=folder, urgent_only=urgent, caller_kind=kind)  # type: ignore[arg-type]
            assert store.inbox(box, q)[1] == _count(engine, box, q), (box, q)


def _count(engine: Engine, box: MailboxRef, q: InboxQuery) -> int:
    m = MessageRow
    where = [m.context == box.context, m.mailbox == box.mailbox, m.state.in_(("discovered", "sealed", "stripped")),
             m.hidden_at.is_(None)]
    if q.folder is not None:
        new = m.folder.in_(("INBOX", "Urgent"))
        where.append(new if q.folder == "INBOX" else ~new)
    if q.urgent_only:
        where.append(m.urgent.is_(True))
    if q.caller_kind == "internal":
        where.append(m.caller_kind == "internal")
    elif q.caller_kind is not None:
        where += [m.caller_kind != "internal", m.caller_withheld.is_(q.caller_kind == "anonymous")]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(m).where(*where)).scalar_one())


def test_counts_follow_every_change_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    check_counts_follow_every_change(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM mailbox_counts")).scalar_one() > 0
    engine.dispose()
