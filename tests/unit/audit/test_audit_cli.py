"""The audit, role, case, hold and evidence commands as operators use them (real SQLite world)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.unit.core.test_cli_operator import sealed_world
from tests.unit.core.test_custody import World
from voicemail.cli import main


@pytest.fixture
def site(tmp_path: Path) -> tuple[World, dict[str, str]]:
    world, env = sealed_world(tmp_path)
    return world, {**env, "VOICEMAIL_AUDIT_SIGNING_KEY": str(tmp_path / "keys" / "audit.pem"),
                   "VOICEMAIL_AUDIT_CHECKPOINT_FILE": str(tmp_path / "ship" / "checkpoints.jsonl")}


def run(env: dict[str, str], *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == code, result.output
    return result


@pytest.mark.parametrize("args", [["audit"], ["audit", "verify"], ["audit", "show"], ["audit", "purge"],
                                  ["cdr", "request"], ["role", "grant"],
                                  ["case", "open"], ["hold", "place"], ["evidence", "verify"],
                                  ["keys", "init-signing"], ["keys", "public-key"]])
def test_every_new_command_has_help(args: list[str]) -> None:
    assert "Usage:" in CliRunner().invoke(main, [*args, "--help"]).output


def test_break_glass_export_requires_a_reason_and_is_audited(site: tuple[World, dict[str, str]],
                                                             tmp_path: Path) -> None:
    world, env = site
    record = world.store.get(world.enqueued[0])
    out = tmp_path / "x.wav"
    refused = run(env, "message", "export", "2001@default", record.msg_id, "-o", str(out), code=2)
    assert "--reason" in refused.output and not out.exists()
    run(env, "message", "export", "2001@default", record.msg_id, "-o", str(out), "--reason", "court order 12",
        "--actor", "dana")
    shown = run(env, "audit", "show", "--message", record.id).output
    assert re.search(r"dana message\.export ok from cli:\S+@\S+ message=\S+ why: court order 12", shown), shown


def test_the_whole_evidence_flow_from_the_command_line(site: tuple[World, dict[str, str]], tmp_path: Path) -> None:
    world, env = site
    run(env, "keys", "init-signing")
    run(env, "keys", "init-signing", code=2)  # never overwrites
    run(env, "role", "grant", "root", "administrator", "--reason", "bootstrap", "--actor", "root")
    for who, role in (("ivy", "investigator"), ("carl", "cleared_admin")):
        run(env, "role", "grant", who, role, "--reason", "appointed", "--actor", "root")
    run(env, "case", "open", "--number", "CI-2026-0142", "--authority", "OIG", "--reason", "fraud", "--actor", "ivy")
    run(env, "case", "open", "--number", "CI-2026-0143", "--authority", "x", "--reason", "y", "--actor", "carl",
        code=1)
    hold = run(env, "hold", "place", "--case", "CI-2026-0142", "--message", world.enqueued[0], "--reason", "keep",
               "--actor", "ivy").output
    assert "placed (message)" in hold
    req = run(env, "evidence", "request", "--case", "CI-2026-0142", "--ref", "OIG-7", "--message", world.enqueued[0],
              "--actor", "ivy").output.split()[1]
    assert "cleared_admin" in run(env, "evidence", "approve", req, "--actor", "ivy", code=1).output
    run(env, "evidence", "approve", req, "--actor", "carl")
    pkg = tmp_path / "pkg"
    run(env, "evidence", "export", req, "-o", str(pkg), "--actor", "ivy")
    pub = tmp_path / "pub.pem"
    run(env, "keys", "public-key", "-o", str(pub))
    assert "package intact" in run(env, "evidence", "verify", str(pkg), "--public-key", str(pub)).output
    envelope = pkg / "messages" / world.enqueued[0] / "envelope.txt"
    envelope.write_bytes(envelope.read_bytes() + b"x")
    bad = run(env, "evidence", "verify", str(pkg), code=1).output
    assert f"MISMATCH messages/{world.enqueued[0]}/envelope.txt" in bad
    case_log = run(env, "audit", "show", "--case", "CI-2026-0142").output
    for action in ("case.open", "hold.place", "evidence.request", "evidence.approve", "evidence.export"):
        assert action in case_log
    run(env, "audit", "checkpoint")
    assert "audit chain intact" in run(env, "audit", "verify").output
    conn = sqlite3.connect(world.root / "vm.db")
    conn.execute("DROP TRIGGER audit_events_no_update")
    conn.execute("UPDATE audit_events SET actor = 'nobody' WHERE seq = 3")
    conn.commit()
    assert "first bad sequence 3" in run(env, "audit", "verify", code=1).output
