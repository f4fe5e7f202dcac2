"""Audit trail benchmark on PostgreSQL: hash-chained appends under concurrency, and verify speed.

    python bench/bench_audit.py [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                                [--workers 8] [--events 1500] [--verify-events 200000]

Creates a throw-away database, runs: (a) W worker *processes* each appending single events, one
transaction per event (the chain head row lock serialises them); (b) the same with 50 events per
transaction (append_many); (c) baseline in the same run: the same processes inserting the same rows
into a plain table with no chain and no lock; (d) 2 processes x --threads threads each calling append()
for one event at a time, group-committed in-process; (e) verify: replay of N events (extrapolated to 1 M).
Target: >= 2,000 events/s for (a) or (b).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine

from voicemail.audit.chain import AuditEvent
from voicemail.audit.signing import SigningKey
from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade


def event(n: int, i: int) -> AuditEvent:
    return AuditEvent(actor=f"worker{n}", action="audio.play", source="web@10.0.0.7", reason="owner playback",
                      message_id=str(uuid.uuid4()), details={"i": i, "format": "wav"})


def worker(url: str, n: int, count: int, batch: int, mode: str, start: mp.Event, done: mp.Queue) -> None:
    engine = make_engine(url)
    log = AuditLog(engine)
    events = [event(n, i) for i in range(count)]
    start.wait()
    t0 = time.perf_counter()
    if mode.startswith("threads"):  # THREADS threads in this process, one append() each at a time
        threads = int(mode.split(":")[1])
        share = count // threads

        def loop(k: int) -> None:
            for e in events[k * share:(k + 1) * share]:
                log.append(e)

        pool = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    elif mode == "plain":
        with engine.connect() as conn:
            for i in range(0, count, batch):
                with conn.begin():
                    conn.exec_driver_sql(
                        "INSERT INTO bench_plain (actor, action, source, reason, message_id, details) "
                        "VALUES (%(a)s, %(b)s, %(c)s, %(d)s, %(e)s, %(f)s)",
                        [{"a": e.actor, "b": e.action, "c": e.source, "d": e.reason, "e": e.message_id,
                          "f": str(dict(e.details))} for e in events[i:i + batch]])
    else:
        for i in range(0, count, batch):
            log.append_many(events[i:i + batch])
    done.put(time.perf_counter() - t0)
    engine.dispose()


def run(url: str, workers: int, count: int, batch: int, mode: str) -> float:
    ctx = mp.get_context("fork")
    start, done = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, n, count, batch, mode, start, done)) for n in range(workers)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let every process connect and build its events
    t0 = time.perf_counter()
    start.set()
    for _ in procs:
        done.get()
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    return workers * count / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", default=os.environ.get("VOICEMAIL_TEST_PG",
                                                   "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--events", type=int, default=1500, help="events per worker")
    ap.add_argument("--threads", type=int, default=32, help="threads per process in the group-commit run")
    ap.add_argument("--verify-events", type=int, default=200_000)
    args = ap.parse_args()
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    name = f"vm_bench_audit_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    try:
        engine = make_engine(url)
        upgrade(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE bench_plain (id bigserial PRIMARY KEY, actor text, action text, "
                                 "source text, reason text, message_id text, details text)")
        w, n = args.workers, args.events
        plain1 = run(url, w, n, 1, "plain")
        chain1 = run(url, w, n, 1, "chain")
        plain50 = run(url, w, n, 50, "plain")
        chain50 = run(url, w, n, 50, "chain")
        threaded = run(url, 2, w * n // 2, 1, f"threads:{args.threads}")
        log = AuditLog(engine)
        have = log.head().seq
        batch = [event(0, i) for i in range(1000)]
        while have < args.verify_events:
            log.append_many(batch)
            have += len(batch)
        key = SigningKey.create(Path(f"/tmp/{name}.pem"))
        log.checkpoint(key)
        t0 = time.perf_counter()
        report = log.verify(key.public)
        verify_s = time.perf_counter() - t0
        assert report.ok, report.result.problem
        engine.dispose()
        Path(f"/tmp/{name}.pem").unlink()
        rate = report.result.checked / verify_s
        print(f"audit benchmark: PostgreSQL, {w} worker processes x {n} events, {os.cpu_count()} CPUs")
        print("| what | measured | baseline (same run): plain INSERT, no chain | ratio | target |")
        print("|---|---|---|---|---|")
        print(f"| append, 1 event per transaction | {chain1:,.0f} events/s | {plain1:,.0f} rows/s | "
              f"{chain1 / plain1:.2f} | >= 2,000 {'ok' if chain1 >= 2000 else 'MISSED'} |")
        print(f"| append, 50 events per transaction | {chain50:,.0f} events/s | {plain50:,.0f} rows/s | "
              f"{chain50 / plain50:.2f} | >= 2,000 {'ok' if chain50 >= 2000 else 'MISSED'} |")
        print(f"| append, 1 event per call, 2 processes x {args.threads} threads (group commit) | "
              f"{threaded:,.0f} events/s | "
              f"{plain1:,.0f} rows/s (8 processes, 1 per transaction) | {threaded / plain1:.2f} | "
              f">= 2,000 {'ok' if threaded >= 2000 else 'MISSED'} |")
        print(f"| verify {report.result.checked:,} events (chain + signed checkpoint) | {rate:,.0f} events/s "
              f"({verify_s:.1f} s) | | | "
              + (f"1 M events in {verify_s:.0f} s (measured) |" if report.result.checked >= 1_000_000 else
                 f"1 M events ~ {1_000_000 / rate:.0f} s (extrapolated) |"))
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
