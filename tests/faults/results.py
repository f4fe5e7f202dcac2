"""The fault suite's results table, written by the suite itself.

Each scenario adds its measured outcome (tests/faults/invariants.Outcome) to ``results.json`` (one row
per scenario, replaced when it runs again); ``RESULTS.md`` and the block between the markers in the
README's reliability chapter are regenerated from it, so the README shows what the last run measured.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from tests.faults.invariants import Outcome

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "RESULTS.md"
README = HERE.parents[1] / "README.md"
START, END = "<!-- fault-results:start -->", "<!-- fault-results:end -->"
COLUMNS = (("scenario", "scenario"), ("in", "in"), ("sealed", "sealed"), ("notified", "notified"),
           ("duplicates", "duplicates"), ("lost", "lost"), ("plaintext_left", "plaintext left"),
           ("orphans", "orphans"), ("recovery_s", "recovery (s)"), ("note", "note"))


def _cell(value: object) -> str:
    if value is None:
        return "–"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |",
             "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for row in sorted(rows, key=lambda r: str(r["scenario"])):
        lines.append("| " + " | ".join(_cell(row.get(key)) for key, _ in COLUMNS) + " |")
    return "\n".join(lines)


def record(outcomes: list[Outcome]) -> None:
    """Merge this run's outcomes into results.json and regenerate RESULTS.md and the README block."""
    if not outcomes:
        return
    rows: dict[str, dict[str, object]] = {}
    if RESULTS_JSON.exists():
        rows = {str(r["scenario"]): r for r in json.loads(RESULTS_JSON.read_text())}
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    for outcome in outcomes:
        row = outcome.row()
        row["measured"] = stamp
        row["ok"] = not outcome.violations
        rows[outcome.scenario] = row
    ordered = sorted(rows.values(), key=lambda r: str(r["scenario"]))
    RESULTS_JSON.write_text(json.dumps(ordered, indent=1) + "\n")
    body = table(ordered)
    RESULTS_MD.write_text(
        "# Fault suite results\n\nWritten by `pytest tests/faults` (tests/faults/results.py) from what each "
        "scenario measured; the README's reliability chapter shows the same table.\n"
        "in = messages left, sealed = sealed exactly once and verified, notified = owners notified, "
        "duplicates = extra e-mails, lost = neither sealed nor in the spool, plaintext left = messages with "
        "a piece of their audio in any file of the site after recovery, orphans = vault files no record "
        "points to after GC, recovery = seconds from the end of the fault until every invariant held.\n\n"
        f"{body}\n")
    if README.exists() and os.environ.get("VOICEMAIL_FAULT_RESULTS_README", "1") != "0":
        text = README.read_text(encoding="utf-8")
        if START in text and END in text:
            head, rest = text.split(START, 1)
            _, tail = rest.split(END, 1)
            README.write_text(f"{head}{START}\n{body}\n{END}{tail}", encoding="utf-8")
