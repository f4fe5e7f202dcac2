"""Spool import throughput and memory: `voicemail import` against a plain copy of the same files.

A spool of N messages over N/50 mailboxes is written as the stand-in's app_voicemail writes it
(voicemail.standin.spool_fill: one 0.25 s WAV and its msgNNNN.txt each, INBOX and Old). Then, in the same
run and on the same files:
  baseline  a plain copy: every spool file read and written to another folder (one process, shutil),
            then one sync of the file system;
  import    `voicemail import` on PostgreSQL (one process): seal, verify, commit per batch, strip.
Reports messages/s and the peak resident memory of each process (wait4), and import / copy ratios. With
--small it also imports a spool a fifth of the size, to show the memory does not grow with the number of
messages. Usage: python bench/bench_import.py [--messages 10000] [--full (100,000 over 2,000 mailboxes)]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pg_scratch import scratch_database
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.standin.spool_fill import fill_spool
from voicemail.vault import FileKeyring

PG_ADMIN = os.environ.get("VOICEMAIL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
VOICEMAIL = str(Path(sys.executable).with_name("voicemail"))
COPY = """
import os, shutil, sys, time
from voicemail.vault.private_files import sync_filesystem
src, dst = sys.argv[1], sys.argv[2]
start = time.perf_counter()
shutil.copytree(src, dst)
sync_filesystem(os.path.dirname(dst))
print(time.perf_counter() - start)
"""


def timed(args: list[str], env: dict[str, str] | None = None) -> tuple[str, float, int]:
    """Run ``args``; (stdout, wall seconds, peak RSS in MiB of that process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{args[:2]} failed ({proc.returncode}): {out[-2000:]}")
    return out, time.perf_counter() - start, usage.ru_maxrss // 1024


def site_env(root: Path, db_url: str) -> dict[str, str]:
    FileKeyring.create(root / "keyring.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEMAIL_")}
    env.update({"VOICEMAIL_SPOOL_DIR": str(root / "spool"), "VOICEMAIL_DATABASE_URL": db_url,
                "VOICEMAIL_VAULT_DIR": str(root / "vault"), "VOICEMAIL_KEYRING": str(root / "keyring.json"),
                "VOICEMAIL_OUTBOX_DIR": str(root / "outbox"), "VOICEMAIL_LOG_LEVEL": "WARNING",
                "VOICEMAIL_MAIL_SENDER": "vm@example.test", "VOICEMAIL_SPOOL_GRACE_SECONDS": "0"})
    return env


def measure(root: Path, messages: int, mailboxes: int, copy: bool) -> dict[str, float]:
    root.mkdir(parents=True)
    began = time.perf_counter()
    for _ in fill_spool(root / "spool", mailboxes, messages):
        pass
    print(f"  spool of {messages} messages in {mailboxes} mailboxes written in "
          f"{time.perf_counter() - began:.0f} s", flush=True)
    out: dict[str, float] = {}
    if copy:
        text, _, rss = timed([sys.executable, "-c", COPY, str(root / "spool"), str(root / "copy")])
        out["copy_rate"], out["copy_rss"] = messages / float(text.strip().splitlines()[-1]), rss
        shutil.rmtree(root / "copy")
    with scratch_database(PG_ADMIN, "vm_bench_import") as db_url:
        engine = make_engine(db_url)
        upgrade(engine)
        engine.dispose()
        text, wall, rss = timed([VOICEMAIL, "import", "--priority", "normal"], site_env(root, db_url))
    found = re.search(r"imported: (\d+)\s+\((\d+)/s\)", text)
    if found is None or int(found.group(1)) != messages:
        raise SystemExit(f"import did not take every message: {text}")
    out["import_rate"], out["import_wall_rate"], out["import_rss"] = float(found.group(2)), messages / wall, rss
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--full", action="store_true", help="100,000 messages over 2,000 mailboxes")
    parser.add_argument("--small", action="store_true", help="also import a spool a fifth of the size (memory)")
    args = parser.parse_args()
    messages = 100_000 if args.full else args.messages
    mailboxes = max(1, messages // 50)
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        big = measure(Path(tmp) / "big", messages, mailboxes, copy=True)
        small = measure(Path(tmp) / "small", messages // 5, max(1, mailboxes // 5), copy=False) if args.small else {}
    print(f"{'plain copy of the spool files':44s} {big['copy_rate']:8.0f} msg/s   peak RSS {big['copy_rss']:4.0f} MiB")
    print(f"{'voicemail import (PostgreSQL)':44s} {big['import_rate']:8.0f} msg/s   "
          f"peak RSS {big['import_rss']:4.0f} MiB   ({big['import_wall_rate']:.0f} msg/s with start-up)")
    print(f"{'ratio import / copy':44s} {big['import_rate'] / big['copy_rate']:8.2f}x")
    if small:
        print(f"{f'voicemail import, {messages // 5} messages':44s} {small['import_rate']:8.0f} msg/s   "
              f"peak RSS {small['import_rss']:4.0f} MiB   (RSS ratio {big['import_rss'] / small['import_rss']:.2f}x "
              "for 5x the messages)")


if __name__ == "__main__":
    main()
