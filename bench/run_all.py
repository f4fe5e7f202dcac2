"""Run every benchmark in bench/ one after the other (each prints its own table)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHES = ["bench_ami_parser.py", "bench_vault.py", "bench_ingest.py", "bench_mail.py", "bench_audit.py",
           "bench_directory.py",
           "bench_rewrap.py", "bench_purge.py",  # lifecycle
           "bench_playback.py", "bench_inbox.py", "bench_metrics.py",  # mailbox services
           "bench_phone_menu.py",  # telephone menu
           "bench_import.py",  # spool import
           "bench_million.py"]  # a million messages: inbox, retention plan, audit verify, reconciliation (~12 min)

if __name__ == "__main__":
    status = 0
    for name in BENCHES:
        print(f"\n=== {name}", flush=True)
        status |= subprocess.call([sys.executable, str(HERE / name)])
    sys.exit(status)
