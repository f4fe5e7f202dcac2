"""The `voicemail` command as an operator uses it: help, clear config errors, keys, export."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.unit.core.test_custody import World
from voicemail.cli import main

COMMANDS = [[], ["run"], ["worker"], ["beat"], ["demo"], ["reconcile"], ["keys"], ["keys", "init"],
            ["message"], ["message", "export"], ["messages"], ["messages", "list"],
            ["messages", "export"], ["config"], ["config", "show"], ["config", "table"]]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "voicemail")
def test_every_command_has_help(args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize(("env", "named"), [
    ({"VOICEMAIL_AMI_PORT": "not-a-port", "VOICEMAIL_AMI_SECRET": "x"}, "VOICEMAIL_AMI_PORT"),
    ({"VOICEMAIL_AMI_SECRET": ""}, "VOICEMAIL_AMI_SECRET"),
    ({"VOICEMAIL_MAILER": "pigeon", "VOICEMAIL_AMI_SECRET": "x"}, "VOICEMAIL_MAILER"),
])
def test_bad_config_is_one_line_naming_the_setting_and_exit_2(env: dict[str, str], named: str) -> None:
    result = CliRunner().invoke(main, ["run"], env=env)
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in result.output


def test_worker_without_broker_explains_itself() -> None:
    result = CliRunner().invoke(main, ["worker"], env={"VOICEMAIL_BROKER_URL": ""})
    assert result.exit_code == 2 and "VOICEMAIL_BROKER_URL" in result.output


def test_keys_init_creates_a_private_keyring_and_refuses_to_overwrite(tmp_path: Path) -> None:
    ring = tmp_path / "keys" / "keyring.json"
    env = {"VOICEMAIL_KEYRING": str(ring)}
    first = CliRunner().invoke(main, ["keys", "init"], env=env)
    assert first.exit_code == 0, first.output
    assert stat.S_IMODE(ring.stat().st_mode) == 0o600
    before = ring.read_bytes()
    second = CliRunner().invoke(main, ["keys", "init"], env=env)
    assert second.exit_code == 2 and "already exists" in second.output
    assert ring.read_bytes() == before


def test_message_export_writes_the_recording_bit_identical(tmp_path: Path) -> None:
    world = World(tmp_path / "w")
    world.discovery.reconcile()
    mid = world.enqueued[1]
    world.custody.seal(mid)
    world.custody.strip(mid)
    record = world.store.get(mid)
    env = {"VOICEMAIL_DATABASE_URL": f"sqlite:///{world.root / 'vm.db'}",
           "VOICEMAIL_VAULT_DIR": str(world.root / "vault"),
           "VOICEMAIL_KEYRING": str(world.root / "keyring.json"), "VOICEMAIL_SPOOL_DIR": str(world.root / "spool"),
           "VOICEMAIL_OUTBOX_DIR": str(world.root / "outbox"), "VOICEMAIL_LOG_LEVEL": "ERROR"}
    out = tmp_path / "evidence.wav"
    result = CliRunner().invoke(main, ["message", "export", "2001@default", record.msg_id, "-o", str(out),
                                       "--reason", "test"], env=env)
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(world.audio[1]).hexdigest()
    again = CliRunner().invoke(main, ["message", "export", "2001@default", record.msg_id, "-o", str(out),
                                      "--reason", "test"], env=env)
    assert again.exit_code == 1 and "already exists" in again.output
    unknown = CliRunner().invoke(main, ["message", "export", "2001@default", "1795978545-0000ffff", "-o",
                                        str(tmp_path / "x.wav"), "--reason", "test"], env=env)
    assert unknown.exit_code == 1 and "no sealed message" in unknown.output
