"""Ingest pipeline throughput: messages/s from spool to notification through real Redis + PostgreSQL.

Two measurements in the same run, on the same kind of spool:
  baseline  the custody steps called directly, one process, no broker (discover, seal, verify,
            commit, strip, notify) on SQLite-free PostgreSQL;
  pipeline  `voicemail worker` processes (prefork, 2 by default) fed through Redis, from the moment
            discovery enqueues the first seal until the last notification is marked sent.
Reports both rates and pipeline / baseline. Usage: python bench/bench_ingest.py [--messages 600]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from pathlib import Path

import redis
from sqlalchemy import create_engine

from voicemail.app import build_container
from voicemail.config import load_settings
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


def make_spool(root: Path, count: int) -> None:
    frames = os.urandom(16000)
    for n in range(count):
        mailbox = ("1001", "1002", "2001")[n % 3]
        inbox = root / "default" / mailbox / "INBOX"
        inbox.mkdir(parents=True, exist_ok=True)
        number = n // 3
        internal = n % 2 == 0
        (inbox / f"msg{number:04d}.txt").write_text(ENVELOPE.format(
            mailbox=mailbox, n=n, origtime=1795978545 + n, context="vm-internal" if internal else "vm-from-trunk",
            callerid='"Alice Internal" <1001>' if internal else "+12025550123"))
        with wave.open(str(inbox / f"msg{number:04d}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(frames)
        old = time.time() - 60  # older than the spool's grace period
        for p in inbox.glob(f"msg{number:04d}.*"):
            os.utime(p, (old, old))


def new_database() -> tuple[str, str]:
    name = f"vm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", name


def drop_database(name: str) -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def site_env(root: Path, db_url: str, broker: str) -> dict[str, str]:
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


def baseline(root: Path, count: int) -> float:
    db_url, name = new_database()
    try:
        make_spool(root / "spool", count)
        env = site_env(root, db_url, "")
        queue: list[str] = []
        c = build_container(load_settings(environ=env), on_new=queue.append)
        for mailbox in ("1001", "1002", "2001"):
            from voicemail.domain.models import MailboxRef
            from voicemail.domain.records import MailboxOwner
            c.store.upsert_mailbox(MailboxOwner(MailboxRef("default", mailbox), mailbox, f"u{mailbox}@example.test"))
        start = time.perf_counter()
        c.discovery.reconcile()
        for mid in queue:
            notification_id = c.custody.take_custody(mid)
            assert notification_id is not None
            c.notifier.send(notification_id)
        elapsed = time.perf_counter() - start
        assert c.store.summary().get("notifications.sent") == count, c.store.summary()
        c.close()
        return count / elapsed
    finally:
        drop_database(name)


def pipeline(root: Path, count: int, workers: int) -> float:
    db_url, name = new_database()
    broker = f"{REDIS}/10"
    redis.Redis.from_url(broker).flushdb()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        make_spool(root / "spool", count)
        env = site_env(root, db_url, broker)
        settings = load_settings(environ=env)
        from workers.celery_app import configure
        from workers.tasks import enqueue_seal

        configure(settings)
        c = build_container(settings, on_new=enqueue_seal)
        for mailbox in ("1001", "1002", "2001"):
            from voicemail.domain.models import MailboxRef
            from voicemail.domain.records import MailboxOwner
            c.store.upsert_mailbox(MailboxOwner(MailboxRef("default", mailbox), mailbox, f"u{mailbox}@example.test"))
        exe = str(Path(sys.executable).with_name("voicemail"))
        log = open(root / "worker.log", "wb")  # noqa: SIM115
        procs.append(subprocess.Popen([exe, "worker", "--concurrency", str(workers)], env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True))
        time.sleep(4)  # let the workers boot and connect before the clock starts
        start = time.perf_counter()
        c.discovery.reconcile()
        while c.store.summary().get("notifications.sent", 0) < count:
            if time.perf_counter() - start > 600:
                raise RuntimeError(f"pipeline did not finish: {c.store.summary()}")
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        c.close()
        return count / elapsed
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(30)
        drop_database(name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=600)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = baseline(Path(tmp) / "baseline", args.messages)
        shutil.rmtree(Path(tmp) / "baseline")
        pipe = pipeline(Path(tmp) / "pipeline", args.messages, args.workers)
    print(f"messages: {args.messages} (1 s PCM WAV each), workers: {args.workers}, cores: {os.cpu_count()}")
    print(f"{'baseline: direct calls, one process':40s} {base:8.1f} msg/s")
    print(f"{'pipeline: Redis + PostgreSQL + workers':40s} {pipe:8.1f} msg/s   ratio {pipe / base:.2f}x")


if __name__ == "__main__":
    main()
