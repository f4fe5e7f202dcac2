"""A million messages in PostgreSQL: wall time and peak memory of four operations, each against the same
operation on a smaller database built the same way in the same run (so the ratio shows how it scales).

    python bench/bench_million.py [--messages 1000000] [--baseline 100000] [--quick] [--repeat 200]
                                  [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--spool-dir DIR]

For each size N (the baseline first, then N) a throw-away database (bench/pg_scratch.py) is migrated and
filled, without sealing anything (no operation measured here opens a blob):
- ``messages``: N rows in state ``stripped`` (custody done), written with COPY: the owner's mailbox
  (1002@default, 5,000 messages) and (N - 5,000) in mailboxes of 100 (20 INBOX, 80 Old); left at a steady
  rate over the last three years, so about a third is older than the default 730-day retention;
- ``audit_events``: a valid hash chain of N events made by the real chaining code
  (``voicemail.audit.chain.chain``), COPYed in batches, then one signed checkpoint of its head;
- a spool written as app_voicemail (and the stand-in) lays it out: ``<context>/<mailbox>/<folder>/
  msgNNNN.txt`` (the stand-in's ``MessageInfo`` envelope) and ``msgNNNN.wav`` (the custody placeholder,
  hard links to one file), one message for every row, with the same msg_id, folder and number.

Each operation then runs in its own child process (``--op``), which reports the operation's wall time
and its peak RSS (``ru_maxrss``) before and after the operation:
- inbox: the web inbox ``GET /`` of the owner (50 newest rows, rendered) through the real app, p50/p99
  over ``--repeat`` requests; baseline in the same process: ``GET /api/v1/me`` (session check only);
- retention plan: ``plan_lines`` (what `voicemail retention plan` prints), default retention periods;
- audit verify: ``AuditLog.verify`` (the whole chain replayed against the signed checkpoint and the head);
- reconciliation: ``Discovery.reconcile`` over the spool (FileSpool + SqlMessageStore, the listener's
  pass every ``reconcile_interval``): every mailbox listed, every envelope read and parsed, every known
  msg_id looked up; in steady state (everything already in custody) it must find nothing new.

``--quick``: 100,000 messages against a 10,000 baseline. Prints the README table rows at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OWNER = ("default", "1002")
OWNER_MESSAGES = 5_000
BOX_MESSAGES = 100
YEARS3 = 3 * 365 * 86400
CALLERS = ('"Alice Internal" <1001>', "+12025550123", "Unknown")
NOW = int(time.time())


# --- the data set -------------------------------------------------------------------------------------
def layout(i: int) -> tuple[str, str, int, str, int]:
    """Message ``i``: (mailbox, folder, number, msg_id, origtime); the same for the rows and the spool."""
    if i < OWNER_MESSAGES:
        box, j, new = OWNER[1], i, 1000
    else:
        k = i - OWNER_MESSAGES
        box, j, new = str(10_000 + k // BOX_MESSAGES), k % BOX_MESSAGES, BOX_MESSAGES // 5
    folder, number = ("INBOX", j) if j < new else ("Old", j - new)
    origtime = NOW - 3600 - (i * 7919 % YEARS3)
    return box, folder, number, f"{origtime}-{i:08x}", origtime


def seed_messages(url: str, n: int) -> None:
    import psycopg

    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn, conn.cursor() as cur:
        with cur.copy("COPY messages (id, context, mailbox, msg_id, state, folder, spool_number, origtime, duration,"
                      " urgent, caller_context, callerid_raw, caller_kind, caller_name, caller_number, caller_withheld,"
                      " envelope, kek_id, wrapped_dek, attempts, last_error, discovered_at, sealed_at, stripped_at,"
                      " updated_at) FROM STDIN") as copy:
            for i in range(n):
                box, folder, number, msg_id, origtime = layout(i)
                internal = i % 3 == 0
                copy.write_row((str(uuid.UUID(int=i + 1)), OWNER[0], box, msg_id, "stripped", folder, number,
                                origtime, 1 + i % 300, i % 50 == 0, "vm-internal" if internal else "vm-from-trunk",
                                CALLERS[i % 3], "internal" if internal else "external",
                                "Alice Internal" if internal else None, "1001" if internal else None, i % 3 == 2,
                                b"", "kek-1", i.to_bytes(8, "big") * 7, 0, "", now, now, now, now))
        conn.commit()
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE messages")


def seed_audit(url: str, n: int, key_path: Path) -> None:
    import psycopg

    from voicemail.audit.chain import GENESIS, AuditEvent, chain
    from voicemail.audit.signing import SigningKey
    from voicemail.audit.store import AuditLog
    from voicemail.db.engine import make_engine

    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    prev, seq = GENESIS, 0
    cols = ("seq", "at", "actor", "action", "outcome", "source", "reason", "case_id", "request_ref", "message_id",
            "details", "prev_hash", "hash")
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        while seq < n:
            with conn.cursor() as cur, cur.copy(f"COPY audit_events ({', '.join(cols)}) FROM STDIN") as copy:
                for _ in range(min(50_000, n - seq)):
                    seq += 1
                    at = (start + dt.timedelta(milliseconds=seq)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    event = AuditEvent(actor="custody", action="message.seal", source="worker@host",
                                       message_id=str(uuid.UUID(int=seq)), details={"fmt": "wav", "bytes": seq})
                    record = chain(event, seq, at, prev)
                    copy.write_row(tuple(getattr(record, c) for c in cols))
                    prev = record.hash
            conn.execute("UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1", (seq, prev))
            conn.commit()
    engine = make_engine(url)
    AuditLog(engine).checkpoint(SigningKey.create(key_path))
    engine.dispose()


def write_spool(root: Path, n: int) -> None:
    from voicemail.spool.placeholder import placeholder_bytes
    from voicemail.standin.msginfo import MessageInfo

    root.mkdir(parents=True)
    placeholder = root / "placeholder.wav"
    placeholder.write_bytes(placeholder_bytes("wav"))
    folder_fd, where = -1, ("", "")
    try:
        for i in range(n):
            box, folder, number, msg_id, origtime = layout(i)
            if (box, folder) != where:
                if folder_fd >= 0:
                    os.close(folder_fd)
                folder_dir = root / OWNER[0] / box / folder
                folder_dir.mkdir(parents=True, exist_ok=True)
                folder_fd, where = os.open(folder_dir, os.O_RDONLY | os.O_DIRECTORY), (box, folder)
            info = MessageInfo(origmailbox=box, context="vm-from-trunk", exten=box, priority=1,
                               callerchan=f"PJSIP/trunk-{i:08x}", callerid=CALLERS[i % 3], origtime=origtime,
                               msg_id=msg_id, flag="", duration=1 + i % 300)
            fd = os.open(f"msg{number:04d}.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=folder_fd)
            try:
                os.write(fd, info.render().encode())
            finally:
                os.close(fd)
            os.link(placeholder, f"msg{number:04d}.wav", dst_dir_fd=folder_fd)
    finally:
        if folder_fd >= 0:
            os.close(folder_fd)
    placeholder.unlink()


# --- the operations, each in a child process ----------------------------------------------------------
def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def op_inbox(url: str, repeat: int, **_: Any) -> dict[str, Any]:
    from bench.bench_inbox import pct, timed
    from bench.bench_inbox_live import signed_in
    from tests.integration.web.web_harness import web_site

    with tempfile.TemporaryDirectory() as tmp, web_site(Path(tmp), url) as site:
        site.rebuild(signin_rate_limit=10_000)
        client = signed_in(site)
        assert client.get("/").status_code == 200
        for _warm in range(20):
            client.get("/")
            client.get("/api/v1/me")
        before = peak_mib()
        t0, c0 = time.perf_counter(), time.process_time()
        base = timed(lambda: client.get("/api/v1/me"), repeat)
        page = timed(lambda: client.get("/"), repeat)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"before": before, "wall": wall, "cpu": cpu, "p50": page[len(page) // 2], "p99": pct(page, 0.99),
            "base_p50": base[len(base) // 2], "base_p99": pct(base, 0.99)}


def op_plan(url: str, **_: Any) -> dict[str, Any]:
    from voicemail.audit.access import Access
    from voicemail.audit.holds import Holds
    from voicemail.audit.store import AuditLog
    from voicemail.config import Settings
    from voicemail.db.engine import make_engine
    from voicemail.lifecycle.planner import Planner
    from voicemail.lifecycle.policy import RetentionPolicy
    from voicemail.lifecycle.runner import plan_lines

    engine = make_engine(url)
    planner = Planner(engine, Holds(engine, Access(engine, AuditLog(engine))),
                      RetentionPolicy.from_settings(Settings()), time.time)
    before = peak_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    lines = list(plan_lines(planner, within_days=30))  # a few lines; made (and read) one by one
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    engine.dispose()
    return {"before": before, "wall": wall, "cpu": cpu, "lines": lines}


def op_verify(url: str, key: str, **_: Any) -> dict[str, Any]:
    from voicemail.audit.signing import SigningKey
    from voicemail.audit.store import AuditLog
    from voicemail.db.engine import make_engine

    engine = make_engine(url)
    public = SigningKey.load(Path(key)).public
    before = peak_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    report = AuditLog(engine).verify(public)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    engine.dispose()
    assert report.ok, report.result.problem
    return {"before": before, "wall": wall, "cpu": cpu, "checked": report.result.checked,
            "checkpoints": report.checkpoints}


def op_reconcile(url: str, spool: str, **_: Any) -> dict[str, Any]:
    from voicemail.db.engine import make_engine, make_sessionmaker
    from voicemail.db.repository import SqlMessageStore
    from voicemail.domain.models import Caller
    from voicemail.services.discovery import Discovery
    from voicemail.spool.file_spool import FileSpool

    engine, reads = make_engine(url), make_engine(url, autocommit=True)
    store = SqlMessageStore(make_sessionmaker(engine), make_sessionmaker(reads))
    handed: list[str] = []
    discovery = Discovery(FileSpool(Path(spool), ("wav",)), store, lambda _env: Caller.external(), handed.append)
    before = peak_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    report = discovery.reconcile()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    engine.dispose()
    reads.dispose()
    # steady state: everything in the spool is in custody already, nothing refused
    assert report.new == 0 and not handed and not report.problems, (report.new, report.problems[:3])
    return {"before": before, "wall": wall, "cpu": cpu, "mailboxes": report.mailboxes, "seen": report.seen}


OPS: dict[str, Callable[..., dict[str, Any]]] = {
    "inbox": op_inbox, "plan": op_plan, "verify": op_verify, "reconcile": op_reconcile}


def child(op: str, **kw: Any) -> dict[str, Any]:
    """Run ``op`` in a fresh interpreter; its result and its own peak RSS (read by wait4)."""
    args = [sys.executable, __file__, "--op", op] + [f"--{k}={v}" for k, v in kw.items()]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(args, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{op} failed (exit {proc.returncode}): {text[-2000:]}")
    result: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    result["peak"] = usage.ru_maxrss / 1024
    return result


# --- one size, then the table -------------------------------------------------------------------------
def measure(pg: str, n: int, repeat: int, spool_dir: Path, ops: tuple[str, ...]) -> dict[str, Any]:
    from bench.pg_scratch import scratch_database
    from voicemail.db.engine import make_engine
    from voicemail.db.migrate import upgrade

    out: dict[str, Any] = {"n": n}
    with scratch_database(pg, "vm_bench_million") as url, tempfile.TemporaryDirectory(dir=spool_dir) as tmp:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        t0 = time.perf_counter()
        seed_messages(url, n)
        out["seed_messages"] = time.perf_counter() - t0
        key = Path(tmp) / "audit-signing.pem"
        t0 = time.perf_counter()
        if "verify" in ops:
            seed_audit(url, n, key)
        out["seed_audit"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if "reconcile" in ops:
            write_spool(Path(tmp) / "spool", n)
        out["seed_spool"] = time.perf_counter() - t0
        print(f"  {n:,}: seeded rows {out['seed_messages']:.0f} s, audit chain {out['seed_audit']:.0f} s, "
              f"spool {out['seed_spool']:.0f} s", flush=True)
        options: dict[str, dict[str, object]] = {
            "inbox": {"repeat": repeat}, "verify": {"key": key}, "reconcile": {"spool": Path(tmp) / "spool"}}
        for op in ops:
            out[op] = child(op, url=url, **options.get(op, {}))
        # the whole chain was replayed (with the few events the signed-in inbox added)
        assert out.get("verify", {"checked": n})["checked"] >= n
        assert out.get("reconcile", {"seen": n})["seen"] == n  # every message of the spool was looked at
        for op in ops:
            r = out[op]
            print(f"  {n:,} {op}: {r['wall']:.2f} s (CPU {r['cpu']:.2f} s), peak RSS {r['peak']:.0f} MiB "
                  f"(+{r['peak'] - r['before']:.0f} MiB during the operation)", flush=True)
    return out


def table(base: dict[str, Any], big: dict[str, Any]) -> list[str]:
    b, n = base["n"], big["n"]
    scale = n / b
    rows = [f"| operation ({n:,} messages; baseline {b:,}, same run) | wall time (CPU of its process) | baseline "
            f"| ratio, wall (CPU); size ×{scale:.0f} | peak RSS (growth during the operation) | baseline "
            "| memory ratio |",
            "|---|---|---|---|---|---|---|"]

    def mem(r: dict[str, Any]) -> str:
        return f"{r['peak']:.0f} MiB (+{r['peak'] - r['before']:.0f})"

    if "inbox" in big:
        ib, ig = base["inbox"], big["inbox"]

        def page(r: dict[str, Any]) -> str:
            return f"{r['p99'] * 1e3:.1f} ms ({r['p50'] * 1e3:.1f}) [{r['base_p99'] * 1e3:.1f}]"

        rows.append(f"| web inbox `GET /` of a 5,000-message mailbox: p99 (p50) [`GET /api/v1/me` p99, same process] "
                    f"| {page(ig)} | {page(ib)} | {ig['p99'] / ib['p99']:.2f}× | {mem(ig)} | {mem(ib)} | "
                    f"{ig['peak'] / ib['peak']:.2f}× |")
    labels = {"plan": "`voicemail retention plan` (`plan_lines`, --days 30)",
              "verify": "`voicemail audit verify` (chain of N events + signed checkpoint)",
              "reconcile": "reconciliation pass (`Discovery.reconcile`, spool of N messages, steady state)"}
    for op, label in labels.items():
        if op not in big:
            continue
        rb, rg = base[op], big[op]
        rows.append(f"| {label} | {rg['wall']:.1f} s ({rg['cpu']:.1f}) | {rb['wall']:.2f} s ({rb['cpu']:.2f}) | "
                    f"{rg['wall'] / rb['wall']:.1f}× ({rg['cpu'] / rb['cpu']:.1f}×) | "
                    f"{mem(rg)} | {mem(rb)} | {rg['peak'] / rb['peak']:.2f}× |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--op", choices=sorted(OPS), help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    ap.add_argument("--spool", help=argparse.SUPPRESS)
    ap.add_argument("--pg", default=os.environ.get("VOICEMAIL_TEST_PG",
                                                   "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--baseline", type=int, default=0, help="messages of the baseline (default: a tenth)")
    ap.add_argument("--quick", action="store_true", help="100,000 messages against 10,000")
    ap.add_argument("--repeat", type=int, default=200, help="inbox page requests per size")
    ap.add_argument("--ops", default=",".join(OPS), help=f"which operations, comma-separated (default {','.join(OPS)})")
    ap.add_argument("--spool-dir", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir()
                    else Path(tempfile.gettempdir()), help="where the spool is written (default: /dev/shm, a "
                    "tmpfs: about 5 GB for a million messages)")
    args = ap.parse_args()
    if args.op:
        result = OPS[args.op](url=args.url, key=args.key, spool=args.spool, repeat=args.repeat)
        print(json.dumps(result))
        return
    n = 100_000 if args.quick else args.messages
    b = args.baseline or n // 10
    if b < OWNER_MESSAGES * 2:
        raise SystemExit(f"the baseline needs at least {OWNER_MESSAGES * 2:,} messages")
    free = shutil.disk_usage(args.spool_dir).free
    if free < n * 6_000:
        raise SystemExit(f"{args.spool_dir}: {free / 2**30:.1f} GiB free, the spools need about "
                         f"{n * 6_000 / 2**30:.1f}")
    ops = tuple(op for op in OPS if op in args.ops.split(","))
    started = time.perf_counter()
    print(f"million-message benchmark: {n:,} messages against {b:,}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    base = measure(args.pg, b, args.repeat, args.spool_dir, ops)
    big = measure(args.pg, n, args.repeat, args.spool_dir, ops)
    print(f"\ndone in {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.1f}\n")
    print("\n".join(table(base, big)))
    if "plan" in big:
        print("\nretention plan at the larger size:")
        print("\n".join(big["plan"]["lines"]))


if __name__ == "__main__":
    main()
