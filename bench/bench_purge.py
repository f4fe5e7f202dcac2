"""Retention purge throughput: messages crypto-shredded per second on PostgreSQL with 100,000 messages.

    python bench/bench_purge.py [--messages 100000] [--due 4000] [--pg URL]

Seeds 100,000 realistic messages (bench_rewrap.seed: bulk inserts, small real sealed blobs), of which
``--due`` are three years old. Half of the due ones are removed by the baseline, the other half by
`voicemail retention run`'s code path, and both rates are reported with their ratio:

* baseline: raw ``DELETE`` of the recording and message rows (batches of 500) plus unlinking the blobs;
* purge: ``RetentionRunner.run`` with the real ``CryptoShredder``: plan (holds checked), then per message
  destroy the data key (commit), delete the blobs, the row tombstoned, each step an audit event; then
  the signed destruction record. No Asterisk here: the spool step (AMI VoicemailRemove) is skipped.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Table, delete, select

from bench.bench_rewrap import drop_database, fresh_database, seed
from voicemail.app import build_container
from voicemail.audit.signing import SigningKey
from voicemail.config import load_settings
from voicemail.db.models import MessageRow, RecordingRow
from voicemail.lifecycle.wiring import Lifecycle
from voicemail.vault import FileVault

messages = cast(Table, MessageRow.__table__)
recordings = cast(Table, RecordingRow.__table__)
DAY = 86400


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", default=os.environ.get("VOICEMAIL_TEST_PG",
                                                   "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--due", type=int, default=4000)
    args = ap.parse_args()
    logging.getLogger("voicemail.services.shred").setLevel(logging.ERROR)  # "no AMI configured" per message
    name, engine = fresh_database(args.pg, "purge")
    url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    now = time.time()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-purge-") as tmp:
            root = Path(tmp)
            t0 = time.perf_counter()
            seed(engine, root, args.messages, now=now, old_fraction=args.due / args.messages)
            print(f"seeded {args.messages} messages ({args.due} due) in {time.perf_counter() - t0:.1f} s")
            with engine.connect() as conn:
                due = list(conn.execute(select(messages.c.id).where(messages.c.origtime < now - 730 * DAY)
                                        .order_by(messages.c.id)).scalars())
            half = due[: len(due) // 2]
            vault = FileVault(root / "vault")
            t0 = time.perf_counter()
            for i in range(0, len(half), 500):
                ids = half[i:i + 500]
                with engine.begin() as conn:
                    blobs = list(conn.execute(select(recordings.c.blob_name)
                                              .where(recordings.c.message_id.in_(ids))).scalars())
                    conn.execute(delete(recordings).where(recordings.c.message_id.in_(ids)))
                    conn.execute(delete(messages).where(messages.c.id.in_(ids)))
                for blob in blobs:
                    vault.delete(blob)
            base = len(half) / (time.perf_counter() - t0)
            SigningKey.create(root / "signing.pem")
            settings = load_settings(environ={}, overrides={
                "database_url": url, "vault_dir": str(root / "vault"), "keyring": str(root / "keyring.json"),
                "spool_dir": str(root / "spool"), "outbox_dir": str(root / "outbox"),
                "audit_signing_key": str(root / "signing.pem"), "retention_records_dir": str(root / "records"),
                "log_level": "WARNING"})
            container = build_container(settings, on_new=lambda _id: None)
            lifecycle = Lifecycle(container, now=lambda: now)
            t0 = time.perf_counter()
            report = lifecycle.runner("retention", "bench").run()
            elapsed = time.perf_counter() - t0
            container.close()
            purged = report.destroyed
            assert purged == len(due) - len(half) and report.failed == 0, (purged, report.failed)
            rate = purged / elapsed
            print("| measure | messages/s |\n|---|---|")
            print(f"| `voicemail retention run` ({purged} due of {args.messages}, crypto-shred + audit) "
                  f"| {rate:,.0f} |")
            print(f"| baseline: raw DELETE of rows + unlink of blobs ({len(half)}) | {base:,.0f} |")
            print(f"| ratio | {rate / base:.3f} |")
            print({"messages": args.messages, "purged": purged, "purge_per_s": round(rate, 1),
                   "baseline_per_s": round(base, 1), "ratio": round(rate / base, 4), "seconds": round(elapsed, 1)})
    finally:
        engine.dispose()
        drop_database(args.pg, name)


if __name__ == "__main__":
    main()
