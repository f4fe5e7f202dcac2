"""Ingest pipeline: messages/s and event-to-notified latency from spool to notification through real
Redis + PostgreSQL and `voicemail worker` processes (prefork).

Measured in the same run, on the same kind of spool (1 s PCM WAV messages over three mailboxes), each
with workers that have taken a first message in and notified it before the clock starts (as in a running
service: connections made, the vault's folders there):
  throughput  every message in the spool at once, one discovery pass, until the last notification is
              recorded sent: the per-message tasks (the baseline: one custody task and one notification
              task per message) with 2 workers, then the batch tasks with 1 and with 2 workers;
  latency     messages arriving at a steady rate (20/s), each scanned by this driver as the listener scans a
              mailbox on its MessageWaiting event: p50 / p99 / max from the moment the message is in the spool
              (the event) to its notification recorded sent: the batch tasks with 1 and with 2 workers
              (``--latency-workers``) vs the per-message tasks with 2;
  via AMI     the same steady rate end to end through the Asterisk stand-in (voicemail/standin, a thread of
              this driver) and a real `voicemail run --no-web` listener: each message is left by a call into
              the stand-in's VoiceMail() (1 s WAV, ~0.11 s per call, calls overlap), the listener scans the
              mailbox on the MessageWaiting event it receives and hands the batch task to the worker; latency
              from the moment the stand-in has the message's files in its spool (the event-loop step in which
              it publishes MessageWaiting) to its notification recorded sent, batch tasks with 1 and with 2
              workers (``--ami-workers``; the column "in spool msg/s" shows each run's rate was held);
  CPU         for each throughput run, the CPU time per message of every process (the worker's pool
              processes and its consumer, the discovery pass and the rest of this driver, the database
              backends of each, the Redis server) and the SQL transactions and statements per message
              (bench/proc_cpu.py): unlike the rates, these hold on a busy machine.
  rounds      the batch tasks' 1- and 2-worker throughput runs are repeated ``--rounds`` times, in turns
              (1 then 2 workers, then 2 then 1, ...), each round's ratio reported and the median ratio taken:
              on a machine whose speed drifts by tens of percent from one half-minute to the next, one pair
              of runs says little about the ratio.
Usage: python bench/bench_ingest.py [--messages 600] [--rounds 1] [--rate 20] [--seconds 30]
                                   [--latency-workers 1,2] [--ami-workers 1,2] [--statements]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.pg_scratch import scratch_database
from bench.proc_cpu import Accounting, per_message, top_statements
from voicemail.app import build_container
from voicemail.config import load_settings
from voicemail.container import Container
from voicemail.db.models import MessageRow, NotificationRow
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import MailboxOwner
from voicemail.standin import StandinConfig, StandinMailbox, StandinThread
from voicemail.standin.spool import VoicemailSpool
from voicemail.standin.spoolfs import Deposit
from voicemail.vault import FileKeyring

PG_ADMIN = os.environ.get("VOICEMAIL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("VOICEMAIL_TEST_REDIS", "redis://127.0.0.1:6379")
ENVELOPE = """;
; Message Information file
;
[message]
origmailbox={mailbox}
context={context}
exten={mailbox}
rdnis=unknown
priority=1
callerchan=PJSIP/trunk-{n:08x}
callerid={callerid}
origdate=Sun Nov 29 06:55:45 PM UTC 2026
origtime={origtime}
category=
msg_id={origtime}-{n:08x}
flag=
duration=1
"""


MAILBOXES = ("1001", "1002", "2001")
FRAMES = os.urandom(16000)


def write_message(inbox: Path, number: int, n: int, mailbox: str, *, age: float = 60.0) -> str:
    """One message as app_voicemail leaves it (the audio, then its .txt); returns its msg_id."""
    internal = n % 2 == 0
    with wave.open(str(inbox / f"msg{number:04d}.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(FRAMES)
    (inbox / f".msg{number:04d}.tmp").write_text(ENVELOPE.format(
        mailbox=mailbox, n=n, origtime=1795978545 + n, context="vm-internal" if internal else "vm-from-trunk",
        callerid='"Alice Internal" <1001>' if internal else "+12025550123"))
    os.replace(inbox / f".msg{number:04d}.tmp", inbox / f"msg{number:04d}.txt")
    if age:
        old = time.time() - age  # older than the spool's grace period
        for p in inbox.glob(f"msg{number:04d}.*"):
            os.utime(p, (old, old))
    return f"{1795978545 + n}-{n:08x}"


def make_spool(root: Path, count: int) -> None:
    for n in range(count):
        mailbox = MAILBOXES[n % 3]
        inbox = root / "default" / mailbox / "INBOX"
        inbox.mkdir(parents=True, exist_ok=True)
        write_message(inbox, n // 3, n, mailbox)


def site_env(root: Path, db_url: str, broker: str) -> dict[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "directory.csv").write_text("number,name,email\n1001,Alice Internal,alice@example.test\n"
                                        "1002,Bob,bob@example.test\n2001,Carol,carol@example.test\n")
    FileKeyring.create(root / "keyring.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEMAIL_")}
    env.update({"VOICEMAIL_SPOOL_DIR": str(root / "spool"), "VOICEMAIL_DATABASE_URL": db_url,
                "VOICEMAIL_BROKER_URL": broker, "VOICEMAIL_VAULT_DIR": str(root / "vault"),
                "VOICEMAIL_KEYRING": str(root / "keyring.json"), "VOICEMAIL_OUTBOX_DIR": str(root / "outbox"),
                "VOICEMAIL_DIRECTORY_FILE": str(root / "directory.csv"), "VOICEMAIL_LOG_LEVEL": "WARNING",
                "VOICEMAIL_INTERNAL_CONTEXTS": "vm-internal", "VOICEMAIL_MAIL_SENDER": "vm@example.test"})
    return env


@dataclass
class Run:
    rate: float  # messages/s, first hand-over to last notification recorded
    latencies: list[float]  # seconds, per message: in the spool -> notification recorded sent
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU ms per message
    counts: dict[str, float] = field(default_factory=dict)  # SQL transactions, statements, Redis commands per message
    statements: list[tuple[float, str]] = field(default_factory=list)  # (calls per message, SQL), most frequent
    arrival_rate: float = float("nan")  # steady runs: messages/s that reached the spool, first to last

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Site:
    container: Container  # the listener's side: discovery and the driver's queries
    db_url: str
    broker: str
    worker_pid: int  # `voicemail worker` (its pool processes are its children)
    warm: set[str]  # msg_ids of the warm-up messages (already notified when the site is yielded)
    env: dict[str, str]  # the worker's environment


@contextmanager
def site(root: Path, workers: int, batched: bool) -> Iterator[Site]:
    """A fresh database, Redis DB and `voicemail worker --concurrency workers`; yields the listener's side
    (its container hands discovered messages to the batch task, or one task per message). The worker's
    database connections are named ``voicemail-worker``, the driver's ``bench-driver``."""
    db = int(os.environ.get("VOICEMAIL_BENCH_REDIS_DB", "10"))
    broker = f"{REDIS}/{db}"
    redis.Redis.from_url(broker).flushdb()
    with scratch_database(PG_ADMIN, "vm_bench_ingest") as db_url:
        env = site_env(root, f"{db_url}?application_name=voicemail-worker", broker)
        (root / "spool").mkdir(exist_ok=True)
        settings = load_settings(environ={**env, "VOICEMAIL_DATABASE_URL": f"{db_url}?application_name=bench-driver"})
        from workers.celery_app import configure
        from workers.tasks import enqueue_custody, enqueue_seal

        configure(settings)
        c = build_container(settings, on_new=enqueue_seal, on_new_batch=enqueue_custody if batched else None)
        for mailbox in MAILBOXES:
            c.store.upsert_mailbox(MailboxOwner(MailboxRef("default", mailbox), mailbox, f"u{mailbox}@example.test"))
        exe = str(Path(sys.executable).with_name("voicemail"))
        with open(root / "worker.log", "wb") as log:
            proc = subprocess.Popen([exe, "worker", "--concurrency", str(workers)], env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            time.sleep(4)  # let the workers boot and connect before the clock starts
            yield Site(c, db_url, broker, proc.pid, warm_up(root / "spool", c, workers), env)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
            c.close()


def warm_up(spool: Path, c: Container, workers: int) -> set[str]:
    """One message in each of ``workers`` mailboxes (their Old folders), taken in and notified before the
    clock starts: each worker process has then made its connections and the vault its folders, as in a
    service that has been running (otherwise every run's first batches pay for it). Returns their msg_ids."""
    warm = set()
    for n, mailbox in enumerate(MAILBOXES[:max(1, workers)]):
        old = spool / "default" / mailbox / "Old"
        old.mkdir(parents=True, exist_ok=True)
        warm.add(write_message(old, 0, 100_000 + n, mailbox))
    start = time.perf_counter()
    c.discovery.reconcile()
    wait_sent(c, len(warm), start)
    return warm


def sent_times(c: Container) -> dict[str, float]:
    """msg_id -> epoch seconds its notification was recorded sent."""
    with c.engine.connect() as conn:
        rows = conn.execute(select(MessageRow.msg_id, NotificationRow.sent_at)
                            .join(NotificationRow, NotificationRow.message_id == MessageRow.id)
                            .where(NotificationRow.state == "sent"))
        return {r.msg_id: r.sent_at.timestamp() for r in rows}


def wait_sent(c: Container, count: int, start: float, limit: float = 900) -> None:
    """Polls (one COUNT every 50 ms) until ``count`` notifications are recorded sent."""
    query = select(func.count()).select_from(NotificationRow).where(NotificationRow.state == "sent")
    while True:
        with c.read_engine.connect() as conn:
            if conn.execute(query).scalar_one() >= count:
                return
        if time.perf_counter() - start > limit:
            raise RuntimeError(f"pipeline did not finish: {c.store.summary()}")
        time.sleep(0.05)


def throughput(root: Path, count: int, workers: int, batched: bool) -> Run:
    with site(root, workers, batched) as st:
        c = st.container
        make_spool(root / "spool", count)
        accounting = Accounting(st.db_url, st.broker, st.worker_pid)
        before = accounting.snapshot(driver_split(0.0))
        t0, start = time.time(), time.perf_counter()
        listener = time.thread_time()
        c.discovery.reconcile()
        listener = time.thread_time() - listener
        wait_sent(c, len(st.warm) + count, start)
        elapsed = time.perf_counter() - start
        after = accounting.snapshot(driver_split(listener))
        accounting.close()
        cpu, counts = per_message(before, after, count)
        return Run(count / elapsed, [t - t0 for m, t in sent_times(c).items() if m not in st.warm], cpu, counts,
                   top_statements(before, after, count))


def driver_split(listener: float) -> dict[str, float]:
    """This process's CPU seconds: the discovery pass (what the listener does) and the rest (the driver)."""
    own = sum(os.times()[:2])
    return {"listener: discovery pass (in the driver)": listener, "bench driver (polling, spool writes excluded)":
            own - listener}


def steady(root: Path, rate: float, seconds: float, batched: bool, workers: int = 2) -> Run:
    """Messages arrive at ``rate``/s (round robin over the mailboxes); each arrival is scanned at once, as
    the listener does on the MessageWaiting event (a scan that falls behind delays the next arrivals'
    scans, and that delay counts in their latency)."""
    count = int(rate * seconds)
    with site(root, workers, batched) as st:
        c = st.container
        arrived: dict[str, float] = {}
        numbers = dict.fromkeys(MAILBOXES, 0)
        for mailbox in MAILBOXES:
            (root / "spool" / "default" / mailbox / "INBOX").mkdir(parents=True)
        start = time.perf_counter()
        for n in range(count):
            due = start + n / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            mailbox = MAILBOXES[n % 3]
            msg_id = write_message(root / "spool" / "default" / mailbox / "INBOX", numbers[mailbox], n, mailbox,
                                   age=0)
            arrived[msg_id] = time.time()
            numbers[mailbox] += 1
            c.discovery.scan(MailboxRef("default", mailbox))
        wait_sent(c, len(st.warm) + count, start)
        sent = sent_times(c)
        return Run(count / (time.perf_counter() - start), [sent[m] - arrived[m] for m in arrived],
                   arrival_rate=arrival_rate(arrived))


def arrival_rate(arrived: dict[str, float]) -> float:
    """Messages/s that reached the spool, from the first to the last."""
    first, last = min(arrived.values()), max(arrived.values())
    return (len(arrived) - 1) / (last - first) if last > first else float("nan")


class TimedSpool(VoicemailSpool):
    """The stand-in's spool, noting (msg_id -> epoch seconds) when each message's files are in place (the
    audio, then the ``.txt``): the stand-in publishes its MessageWaiting in the same event-loop step, after
    a recount of the mailbox."""

    def __init__(self, root: Path, extensions: tuple[str, ...], maxmsg: int) -> None:
        super().__init__(root, extensions, maxmsg)
        self.arrived: dict[str, float] = {}

    def finish_deposit(self, dep: Deposit, txt: str, audio: dict[str, bytes]) -> Path:
        base = super().finish_deposit(dep, txt, audio)
        msg_id = next(line[7:] for line in txt.splitlines() if line.startswith("msg_id="))
        self.arrived[msg_id] = time.time()
        return base


def wav_file() -> bytes:
    """The 1 s PCM WAV the stand-in's callers leave (the same audio as ``write_message``'s)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(FRAMES)
    return buf.getvalue()


WAV = wav_file()


@contextmanager
def ami_listener(root: Path, st: Site) -> Iterator[tuple[StandinThread, TimedSpool]]:
    """The Asterisk stand-in (a thread of this process, ``fast`` timing) on the site's spool, and a
    `voicemail run --no-web` logged in to it (it hands what it discovers to the site's worker as batch
    tasks); yields once the listener has taken in and notified one message left through the stand-in."""
    secret = "bench-secret"  # the stand-in's AMI secret, this run only
    boxes = tuple(StandinMailbox("default", m, fullname=f"Owner {m}", email=f"u{m}@example.test") for m in MAILBOXES)
    standin = StandinThread(StandinConfig(spool_dir=root / "spool", username="voicemail", secret=secret,
                                          mailboxes=boxes, maxmsg=9999))
    port = standin.start()
    pbx = standin.standin.pbx
    spool = pbx.spool = TimedSpool(pbx.spool.root, pbx.spool.extensions, pbx.spool.maxmsg)
    env = {**st.env, "VOICEMAIL_AMI_HOST": "127.0.0.1", "VOICEMAIL_AMI_PORT": str(port),
           "VOICEMAIL_AMI_USERNAME": "voicemail", "VOICEMAIL_AMI_SECRET": secret,
           "VOICEMAIL_AUDIT_SIGNING_KEY": str(root / "audit-signing.pem"),
           "VOICEMAIL_PHONE_STAGING_DIR": str(root / "phone-staging"),
           "VOICEMAIL_RETENTION_RECORDS_DIR": str(root / "destruction-records")}
    exe = str(Path(sys.executable).with_name("voicemail"))
    with open(root / "listener.log", "wb") as log:
        proc = subprocess.Popen([exe, "run", "--no-web"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        start = time.perf_counter()
        while standin.session_count() < 1:
            if time.perf_counter() - start > 60 or proc.poll() is not None:
                raise RuntimeError(f"the listener did not log in to the stand-in (see {root / 'listener.log'})")
            time.sleep(0.1)
        st.warm.add(leave(standin, 0))
        wait_sent(st.container, len(st.warm), start)
        yield standin, spool
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        standin.stop()


def leave(standin: StandinThread, n: int) -> str:
    """Message ``n`` left through the stand-in (a call into VoiceMail() of its mailbox): its msg_id."""
    internal = n % 2 == 0
    msg_id = standin.leave_message(f"{MAILBOXES[n % 3]}@default",
                                   '"Alice Internal" <1001>' if internal else "+12025550123",
                                   caller_context="vm-internal" if internal else "vm-from-trunk", audio=WAV)
    if msg_id is None:
        raise RuntimeError("the stand-in's mailbox is full")
    return msg_id


def steady_ami(root: Path, rate: float, seconds: float, workers: int) -> Run:
    """Messages left through the stand-in at ``rate``/s (its calls overlap); the `voicemail run` listener
    scans a mailbox on its MessageWaiting event. Latency: from the moment the stand-in has the message's
    files in its spool (and publishes MessageWaiting) to the notification recorded sent."""
    count = int(rate * seconds)
    with site(root, workers, batched=True) as st, ami_listener(root, st) as (standin, spool), \
            ThreadPoolExecutor(32) as calls:
        start = time.perf_counter()
        pending = []
        for n in range(count):
            pause = start + n / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pending.append(calls.submit(leave, standin, n))
        ids = [f.result() for f in pending]
        wait_sent(st.container, len(st.warm) + count, start)
        sent = sent_times(st.container)
        arrived = {m: spool.arrived[m] for m in ids}
        return Run(count / (time.perf_counter() - start), [sent[m] - arrived[m] for m in ids],
                   arrival_rate=arrival_rate(arrived))


def fresh(tmp: Path, name: str, run: Callable[[Path], Run]) -> Run:
    """One run in its own folder. The folders are removed together at the end: removing thousands of files
    right before the next run would slow that run's file creation (a file system without a journal, such
    as this project's CI machine's, looks at every recently freed inode before it reuses one)."""
    return run(tmp / name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of the batch tasks' 1- and 2-worker throughput runs, in alternating order; "
                         "the median ratio is reported (default 1)")
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--no-latency-baseline", action="store_true", help="latency of the batch tasks only")
    ap.add_argument("--latency-workers", default="1,2",
                    help="worker processes of the batch tasks' latency runs, comma-separated (default 1,2)")
    ap.add_argument("--ami-workers", default="1,2",
                    help="worker processes of the latency runs through the Asterisk stand-in and a `voicemail run` "
                         "listener (batch tasks), comma-separated (default 1,2; empty: none)")
    ap.add_argument("--statements", action="store_true",
                    help="also list each run's most frequent SQL statements (needs pg_stat_statements loaded)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if not args.skip_throughput:
            report_throughput(tmp, args.messages, args.statements, max(1, args.rounds))
        if not args.skip_latency:
            counts = [int(w) for w in args.latency_workers.split(",") if w.strip()]
            ami = tuple(int(w) for w in args.ami_workers.split(",") if w.strip())
            report_latency(tmp, args.rate, args.seconds, not args.no_latency_baseline, counts, ami)


def report_throughput(tmp: Path, messages: int, statements: bool = False, rounds: int = 1) -> None:
    base = fresh(tmp, "base", lambda r: throughput(r, messages, 2, batched=False))
    pairs: list[tuple[Run, Run]] = []
    for n in range(rounds):  # 1 then 2 workers, then 2 then 1: neither always runs first
        order = (1, 2) if n % 2 == 0 else (2, 1)
        done = {w: fresh(tmp, f"r{n}-{w}", functools.partial(throughput, count=messages, workers=w, batched=True))
                for w in order}
        pairs.append((done[1], done[2]))
    ratios = [two.rate / one.rate for one, two in pairs]
    # the round of the median ratio (of the higher middle one with an even number of rounds)
    middle = sorted(range(rounds), key=lambda i: ratios[i])[rounds // 2]
    one, two = pairs[middle]
    print(f"messages: {messages} (1 s PCM WAV each, 3 mailboxes), cores: {os.cpu_count()}, "
          f"load average before: {os.getloadavg()[0]:.1f}")
    if rounds > 1:
        print(f"{'round':>5s} {'1 worker msg/s':>15s} {'2 workers msg/s':>16s} {'2 / 1':>6s}")
        for n, ((a, b), ratio) in enumerate(zip(pairs, ratios, strict=True)):
            print(f"{n + 1:5d} {a.rate:15.1f} {b.rate:16.1f} {ratio:6.2f}")
        print(f"median of {rounds} rounds: 2 workers / 1 worker {statistics.median_high(ratios):.2f}x "
              f"(range {min(ratios):.2f}-{max(ratios):.2f}); below, the round of the median ratio ({middle + 1})")
    print(f"{'throughput':44s} {'msg/s':>8s} {'p50 s':>7s} {'p99 s':>7s}")
    for label, r in (("per-message tasks, 2 workers (baseline)", base), ("batch tasks, 1 worker", one),
                     ("batch tasks, 2 workers", two)):
        print(f"{label:44s} {r.rate:8.1f} {r.pct(0.5):7.2f} {r.pct(0.99):7.2f}")
    print(f"batch 2 workers / per-message 2 workers: {two.rate / base.rate:.2f}x; "
          f"batch 2 workers / batch 1 worker: {two.rate / one.rate:.2f}x")
    runs = (("per-msg 2w", base), ("batch 1w", one), ("batch 2w", two))
    report_cpu(runs)
    if statements and not any(r.statements for _, r in runs):
        print("(no SQL statements listed: the server does not load pg_stat_statements)")
    elif statements:
        for name, r in runs:
            print(f"most frequent SQL statements, {name} (calls per message):")
            for calls, sql in r.statements:
                print(f"  {calls:6.2f}  {' '.join(sql.split())[:150]}")


def report_cpu(runs: tuple[tuple[str, Run], ...]) -> None:
    """CPU time per message of each process of each run (does not depend much on the machine's load)."""
    labels = sorted({label for _, r in runs for label in r.cpu})
    width = max(len(label) for label in labels)
    print(f"{'CPU ms per message (user + system)':{width}s} " + " ".join(f"{name:>11s}" for name, _ in runs))
    for label in labels:
        print(f"{label:{width}s} " + " ".join(f"{r.cpu.get(label, 0.0):11.2f}" for _, r in runs))
    print(f"{'total':{width}s} " + " ".join(f"{sum(r.cpu.values()):11.2f}" for _, r in runs))
    print(f"{'  of which outside the worker pool processes':{width}s} " + " ".join(
        f"{sum(v for k, v in r.cpu.items() if k != 'worker: pool processes'):11.2f}" for _, r in runs))
    for counter in sorted({k for _, r in runs for k in r.counts}):
        print(f"{counter + ' per message':{width}s} " + " ".join(f"{r.counts.get(counter, 0.0):11.2f}"
                                                                 for _, r in runs))


def report_latency(tmp: Path, rate: float, seconds: float, baseline: bool, workers: list[int],
                   ami: tuple[int, ...] = ()) -> None:
    runs: list[tuple[str, Run]] = []
    if baseline:
        runs.append(("per-message tasks, 2 workers (baseline)",
                     fresh(tmp, "lat-base", lambda r: steady(r, rate, seconds, batched=False))))
    for count in workers:
        runs.append((f"batch tasks, {count} worker{'s' if count != 1 else ''}",
                     fresh(tmp, f"lat-{count}", functools.partial(steady, rate=rate, seconds=seconds,
                                                                  batched=True, workers=count))))
    for count in ami:
        runs.append((f"via AMI + listener, batch, {count} worker{'s' if count != 1 else ''}",
                     fresh(tmp, f"lat-ami-{count}", functools.partial(steady_ami, rate=rate, seconds=seconds,
                                                                      workers=count))))
    print(f"steady {rate:g} msg/s for {seconds:g} s: event (in the spool) -> notified; via AMI: the stand-in "
          f"Asterisk's call has written the message and publishes MessageWaiting, `voicemail run` scans on it")
    print(f"{'latency':44s} {'p50 s':>7s} {'p99 s':>7s} {'max s':>7s} {'in spool msg/s':>15s}")
    for label, r in runs:
        print(f"{label:44s} {r.pct(0.5):7.3f} {r.pct(0.99):7.3f} {max(r.latencies):7.3f} {r.arrival_rate:15.1f}")
    if baseline:
        for label, r in runs[1:]:
            print(f"p99 {label} / per-message: {r.pct(0.99) / runs[0][1].pct(0.99):.2f}x")
    print(f"finished at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load average after: "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
