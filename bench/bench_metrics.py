"""Cost of one /metrics scrape's database figures (voicemail.observe.snapshot.read_snapshot) and of the
operations page's hourly figures (voicemail.observe.hourly.last_day) on PostgreSQL, against a baseline in
the same run (a primary-key lookup of one message).

    python bench/bench_metrics.py [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                                  [--messages 5000 20000] [--repeat 50]

For each size: a throw-away database (dropped afterwards), migrated; messages over 30 days inserted in
time order (1 % of them in the last hour, a few still pending), one sealed recording and one
notification each, some dead letters; ANALYZEd. Reports p50 / p99 of each and the p50 as a multiple of
the baseline's p50. Both grow linearly with the rows (a pass over messages, notifications and recordings);
the web app computes them at most once per metrics_cache_seconds whatever the number of scrapers.
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

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import Engine

from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.db.models import DeadLetterRow, MessageRow, NotificationRow, RecordingRow
from voicemail.observe.hourly import last_day
from voicemail.observe.snapshot import read_snapshot


def seed(engine: Engine, n: int, rng: random.Random, now: dt.datetime) -> list[str]:
    ids: list[str] = []
    messages: list[dict[str, object]] = []
    recordings: list[dict[str, object]] = []
    notes: list[dict[str, object]] = []

    def flush() -> None:
        with engine.begin() as conn:
            conn.execute(insert(MessageRow), messages)
            if recordings:
                conn.execute(insert(RecordingRow), recordings)
            if notes:
                conn.execute(insert(NotificationRow), notes)
        messages.clear()
        recordings.clear()
        notes.clear()

    # rows in the order they were discovered, as a live table grows (recent rows share recent pages)
    ages = sorted((rng.uniform(0, 3600) if rng.random() < 0.01 else rng.uniform(3600, 30 * 86400)
                   for _ in range(n)), reverse=True)
    for i, age in enumerate(ages):
        mid = str(uuid.UUID(int=rng.getrandbits(128)))
        ids.append(mid)
        recent = age < 3600
        discovered = now - dt.timedelta(seconds=age)
        pending = recent and rng.random() < 0.1
        sealed = None if pending else discovered + dt.timedelta(seconds=rng.uniform(0.2, 5))
        sent = None if sealed is None else sealed + dt.timedelta(seconds=rng.uniform(0.1, 30))
        messages.append({
            "id": mid, "context": "default", "mailbox": str(1000 + i % 500), "msg_id": f"{1795000000 + i}-{i:08d}",
            "state": "discovered" if pending else ("stripped" if rng.random() < 0.95 else "destroyed"),
            "folder": "INBOX", "origtime": int(discovered.timestamp()), "duration": rng.randrange(1, 300),
            "caller_kind": "external", "callerid_raw": "", "envelope": b"", "attempts": 0, "last_error": "",
            "discovered_at": discovered, "sealed_at": sealed, "stripped_at": sealed,
            "updated_at": sent or discovered})
        if sealed is not None and sent is not None:
            recordings.append({"message_id": mid, "fmt": "wav", "blob_name": mid, "sha256": "0" * 64,
                               "size": rng.randrange(8_000, 2_000_000)})
            notes.append({"id": str(uuid.UUID(int=rng.getrandbits(128))), "message_id": mid, "state": "sent",
                          "recipient": "", "attempts": 1, "last_error": "", "created_at": sealed, "sent_at": sent,
                          "updated_at": sent})
        if len(messages) == 5000:
            flush()
    if messages:
        flush()
    with engine.begin() as conn:
        conn.execute(insert(DeadLetterRow), [{"task": "workers.tasks.send_notification", "ref_id": ids[i],
                                              "error": "RetryLater", "attempts": 9, "created_at": now}
                                             for i in range(5)])
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


def run(url: str, n: int, repeat: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(20261204)
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    ids = seed(engine, n, rng, now)
    seeded = time.perf_counter() - started
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))

    def lookup() -> None:
        with engine.connect() as conn:
            conn.execute(select(MessageRow.id, MessageRow.state).where(MessageRow.id == rng.choice(ids))).first()

    def scrape() -> None:
        read_snapshot(engine, now=dt.datetime.now(dt.UTC), window=3600)

    def page() -> None:
        last_day(engine, dt.datetime.now(dt.UTC))

    for warm in (lookup, scrape, page):
        for _ in range(5):
            warm()
    base = timed(lookup, repeat * 4)
    results = {"scrape: read_snapshot (all /metrics figures)": timed(scrape, repeat),
               "operations page: last_day (24 hourly figures)": timed(page, repeat)}
    snap = read_snapshot(engine, now=dt.datetime.now(dt.UTC), window=3600)
    engine.dispose()
    b50 = statistics.median(base)
    print(f"\n{n:,} messages (seeded in {seeded:.1f} s; {snap.sealed_total:,} sealed, {snap.custody_pending} pending, "
          f"{len(snap.window.seal)} sealed in the last hour), {repeat} runs each")
    print(f"{'what':<50}{'p50':>10}{'p99':>10}{'p50/base':>10}")
    print(f"{'baseline: one message by primary key':<50}{b50 * 1e3:>8.2f}ms{pct(base, 0.99) * 1e3:>8.2f}ms")
    for label, times in results.items():
        print(f"{label:<50}{statistics.median(times) * 1e3:>8.2f}ms{pct(times, 0.99) * 1e3:>8.2f}ms"
              f"{statistics.median(times) / b50:>9.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--messages", type=int, nargs="+", default=[5_000, 20_000])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        version = str(conn.execute(text("SHOW server_version")).scalar_one())
    print(f"metrics benchmark on PostgreSQL {version}")
    for n in args.messages:
        name = f"vm_bench_metrics_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            run(args.pg.rsplit("/", 1)[0] + f"/{name}", n, args.repeat)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


if __name__ == "__main__":
    main()
