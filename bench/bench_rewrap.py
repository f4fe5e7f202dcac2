"""Key rotation throughput: data keys re-wrapped per second on PostgreSQL with 100,000 messages.

    python bench/bench_rewrap.py [--messages 100000] [--batch 1000] [--pg URL]

Seeds a fresh database with realistic message rows (envelope, caller fields, a recording row, a real
61-byte wrapped data key each) by bulk inserts, and small real sealed blobs in a vault folder. Then:

* rotate: `KeyRotation.rotate` (what `voicemail keys rotate` runs): a new KEK, every data key read,
  unwrapped, re-wrapped under the new KEK and written back (compare-and-set) in batches, with the
  durable wrap counter reserved per batch, the progress row and the audit events;
* baseline: the same unwraps and wraps with the same keyring, in memory, no database.

The figure is keys/s for each and their ratio (rotate / baseline).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Table, create_engine, insert, select
from sqlalchemy.engine import Engine

from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.db.models import MessageRow, RecordingRow
from voicemail.domain.models import WrappedKey
from voicemail.keys.file_backend import RotatableFileKeyring
from voicemail.keys.rotation import KeyRotation
from voicemail.keys.usage import CountedKeyring, UsageCounter
from voicemail.vault import FileVault, new_data_key
from voicemail.vault.sealed_stream import seal_stream

messages = cast(Table, MessageRow.__table__)
recordings = cast(Table, RecordingRow.__table__)
DAY = 86400
ENVELOPE = (b";\n; Message Information file\n;\n[message]\norigmailbox=1001\ncontext=vm-internal\nmacrocontext=\n"
            b"exten=1001\nrdnis=unknown\npriority=2\ncallerchan=PJSIP/1002-00000001\ncallerid=\"Bob\" <1002>\n"
            b"origdate=Sun Nov 29 10:00:00 AM UTC 2026\norigtime=1795000000\ncategory=\nmsg_id=1795000000-00000001\n"
            b"flag=\nduration=7\n")


def fresh_database(admin_url: str, label: str) -> tuple[str, Engine]:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"vm_bench_{label}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return name, make_engine(admin_url.rsplit("/", 1)[0] + f"/{name}")


def drop_database(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def seed(engine: Engine, root: Path, count: int, *, now: float, old_fraction: float = 0.0,
         chunk: int = 5000) -> RotatableFileKeyring:
    """``count`` sealed messages (the first ``old_fraction`` of them 3 years old, the rest a few days)."""
    upgrade(engine)
    keyring = RotatableFileKeyring.create_rotatable(root / "keyring.json")
    vault = FileVault(root / "vault")
    rng = random.Random(7)
    audio = b"RIFF" + rng.randbytes(600)  # small real blobs: a fraction of a second of 8 kHz audio
    old_count = int(count * old_fraction)
    for start in range(0, count, chunk):
        rows, recs = [], []
        for i in range(start, min(start + chunk, count)):
            mid = str(uuid.UUID(int=rng.getrandbits(128)))
            dek = new_data_key()
            blob = f"{mid}.wav.seed"
            path = vault.path_for(blob)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as sink:  # bulk seeding: no fsync per blob
                result = seal_stream(io.BytesIO(audio), sink, dek, mid.encode())
            wrapped = keyring.wrap(dek, mid.encode())
            age = (1095 if i < old_count else 3) * DAY + i
            rows.append({"id": mid, "context": "default", "mailbox": f"{1000 + i % 500}", "msg_id": f"{i}-{mid[:8]}",
                         "state": "stripped", "folder": "INBOX" if i % 3 else "Old", "spool_number": i % 100,
                         "origtime": int(now - age), "duration": 7, "urgent": False,
                         "caller_context": "vm-internal", "callerid_raw": '"Bob" <1002>', "caller_kind": "internal",
                         "caller_name": "Bob", "caller_number": "1002", "envelope": ENVELOPE, "kek_id": wrapped.kek_id,
                         "wrapped_dek": wrapped.blob, "attempts": 0, "last_error": "", "caller_withheld": False})
            recs.append({"message_id": mid, "fmt": "wav", "blob_name": blob, "sha256": result.sha256,
                         "size": result.size})
        with engine.begin() as conn:
            conn.execute(insert(messages), rows)
            conn.execute(insert(recordings), recs)
    return keyring


def baseline(engine: Engine, keyring: RotatableFileKeyring) -> float:
    with engine.connect() as conn:
        keys = [(r.id, WrappedKey(r.kek_id, r.wrapped_dek)) for r in
                conn.execute(select(messages.c.id, messages.c.kek_id, messages.c.wrapped_dek))]
    t0 = time.perf_counter()
    for mid, wrapped in keys:
        keyring.rewrap(wrapped, mid.encode())
    return len(keys) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", default=os.environ.get("VOICEMAIL_TEST_PG",
                                                   "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    name, engine = fresh_database(args.pg, "rewrap")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-rewrap-") as tmp:
            t0 = time.perf_counter()
            keyring = seed(engine, Path(tmp), args.messages, now=time.time())
            print(f"seeded {args.messages} messages in {time.perf_counter() - t0:.1f} s")
            base = baseline(engine, keyring)
            counted = CountedKeyring(keyring, UsageCounter(engine, 1 << 30), block=args.batch)
            rotation = KeyRotation(engine, counted, AuditLog(engine), batch=args.batch, retire_grace=0)
            t0 = time.perf_counter()
            report = rotation.rotate("bench", "bench")
            elapsed = time.perf_counter() - t0
            assert report.left == 0 and report.rewrapped == args.messages, report
            rate = args.messages / elapsed
            result: dict[str, Any] = {"messages": args.messages, "batch": args.batch,
                                      "rotate_keys_per_s": round(rate), "baseline_keys_per_s": round(base),
                                      "ratio": round(rate / base, 3), "rotate_seconds": round(elapsed, 1)}
            print("| measure | keys/s |\n|---|---|")
            print(f"| `voicemail keys rotate` (PostgreSQL, {args.messages} messages, batch {args.batch}) "
                  f"| {rate:,.0f} |")
            print(f"| baseline: unwrap + wrap in memory | {base:,.0f} |")
            print(f"| ratio | {rate / base:.3f} |")
            print(result)
    finally:
        engine.dispose()
        drop_database(args.pg, name)


if __name__ == "__main__":
    main()
