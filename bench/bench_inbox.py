"""Inbox list latency on PostgreSQL with 100,000 messages in one mailbox, against a baseline in the
same run (a primary-key lookup of one message: one round trip, one index probe).

    python bench/bench_inbox.py [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                                [--messages 100000] [--repeat 300]

Creates a throw-away database (dropped afterwards), migrates it, bulk-inserts the messages (plus 20,000
in other mailboxes), ANALYZEs, then times ``SqlMailboxStore.inbox`` (the page and its total, as
MailboxServices.inbox runs them) for the inbox's common queries. Reports p50 / p99 per query and the
p99 as a multiple of the baseline's p50. Target: every p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select, text

from bench.pg_scratch import scratch_database
from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.mailbox_store import SqlMailboxStore
from voicemail.db.migrate import upgrade
from voicemail.db.models import MessageRow
from voicemail.domain.mailbox import InboxQuery
from voicemail.domain.models import MailboxRef

BOX = MailboxRef("default", "1001")
TARGET_P99 = 0.050
CALLERS = [("internal", '"Bob Internal" <1002>', "Bob Internal", "1002", False),
           ("external", "+12025550123", None, None, False),
           ("external", "Unknown", None, None, True)]
QUERIES = {
    "newest, page 1": InboxQuery(),
    "new (INBOX) only, page 1": InboxQuery(folder="INBOX"),
    "old, oldest first, page 20": InboxQuery(folder="Old", sort="oldest", offset=950),
    "longest first, page 1": InboxQuery(sort="longest"),
    "urgent only": InboxQuery(urgent_only=True),
    "anonymous callers, 200 a page": InboxQuery(caller_kind="anonymous", limit=200),
    "newest, deep page (offset 5,000)": InboxQuery(offset=5000),
}


def seed(engine: object, box: MailboxRef, n: int, rng: random.Random) -> list[str]:
    now = dt.datetime.now(dt.UTC)
    ids: list[str] = []
    batch: list[dict[str, object]] = []

    def flush() -> None:
        with engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(insert(MessageRow), batch)
        batch.clear()

    for i in range(n):
        kind, raw, name, number, withheld = CALLERS[i % 3]
        mid = str(uuid.UUID(int=rng.getrandbits(128)))
        ids.append(mid)
        batch.append({
            "id": mid, "context": box.context, "mailbox": box.mailbox, "msg_id": f"{1795000000 + i}-{i:08x}",
            "state": "stripped" if rng.random() < 0.97 else "destroyed",
            "folder": rng.choice(["INBOX", "Old", "Old", "Old", "Urgent"]),
            "origtime": 1700000000 + rng.randrange(10**8), "duration": rng.randrange(1, 3600),
            "urgent": rng.random() < 0.02, "caller_kind": kind, "callerid_raw": raw, "caller_name": name,
            "caller_number": number, "caller_withheld": withheld, "caller_context": "", "envelope": b"",
            "kek_id": "kek-1", "wrapped_dek": rng.randbytes(61), "attempts": 0, "last_error": "",
            "discovered_at": now, "updated_at": now, "hidden_at": now if rng.random() < 0.01 else None})
        if len(batch) == 5000:
            flush()
    if batch:
        flush()
    return ids


def timed(run: object, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        out.append(time.perf_counter() - start)
    return sorted(out)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, round(p * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    with scratch_database(args.pg, "vm_bench_inbox") as url:
        run(url, args.messages, args.repeat)


def run(url: str, n: int, repeat: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(20261129)
    started = time.perf_counter()
    ids = seed(engine, BOX, n, rng)
    seed(engine, MailboxRef("default", "1002"), n // 10, rng)
    seed(engine, MailboxRef("default", "2001"), n // 10, rng)
    seeded = time.perf_counter() - started
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE messages"))
        version = conn.execute(text("SHOW server_version")).scalar_one()
    store = SqlMailboxStore(make_sessionmaker(engine))
    sessions = make_sessionmaker(engine)

    def lookup() -> None:
        with sessions() as s:
            s.execute(select(MessageRow.id, MessageRow.origtime).where(MessageRow.id == rng.choice(ids))).first()

    for _ in range(30):
        lookup()
    base = timed(lookup, repeat)
    results = {}
    for label, query in QUERIES.items():
        for _ in range(10):
            store.inbox(BOX, query)
        results[label] = (timed(lambda q=query: store.inbox(BOX, q), repeat), store.inbox(BOX, query)[1])
    engine.dispose()

    print(f"inbox benchmark: {n:,} messages in one mailbox (+{2 * (n // 10):,} elsewhere), seeded in {seeded:.1f} s; "
          f"PostgreSQL {version}, {repeat} runs each")
    print()
    print(f"{'query (page of 50 unless said + its total)':<44}{'total':>8}{'p50':>10}{'p99':>10}"
          f"{'p99/base':>10}   target")
    b50 = statistics.median(base)
    print(f"{'baseline: one message by primary key':<44}{'':>8}{b50 * 1e3:>8.2f}ms{pct(base, 0.99) * 1e3:>8.2f}ms")
    ok = True
    for label, (times, total) in results.items():
        p99 = pct(times, 0.99)
        ok &= p99 <= TARGET_P99
        print(f"{label:<44}{total:>8,}{statistics.median(times) * 1e3:>8.2f}ms{p99 * 1e3:>8.2f}ms"
              f"{p99 / b50:>9.1f}x   <= {TARGET_P99 * 1e3:.0f} ms {'ok' if p99 <= TARGET_P99 else 'MISSED'}")
    print()
    print("all targets met" if ok else "SOME TARGETS MISSED")


if __name__ == "__main__":
    main()
