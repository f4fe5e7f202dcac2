"""What an operator sees on a terminal: message ids that work everywhere, headers, exit codes, TOML."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner

from tests.unit.core.test_custody import World
from voicemail.audit.store import AuditLog
from voicemail.cli import main
from voicemail.db.engine import make_engine

EXTERNAL_DIGITS = "2025550123"  # the outside caller of the vmleave-ext sample


def sealed_world(tmp_path: Path) -> tuple[World, dict[str, str]]:
    """The custody test world with every spool message sealed and stripped, and the environment that points
    the CLI at it."""
    world = World(tmp_path / "w")
    world.discovery.reconcile()
    for mid in world.enqueued:
        world.custody.seal(mid)
        world.custody.strip(mid)
    env = {"VOICEMAIL_DATABASE_URL": f"sqlite:///{world.root / 'vm.db'}",
           "VOICEMAIL_VAULT_DIR": str(world.root / "vault"),
           "VOICEMAIL_KEYRING": str(world.root / "keyring.json"), "VOICEMAIL_SPOOL_DIR": str(world.root / "spool"),
           "VOICEMAIL_OUTBOX_DIR": str(world.root / "outbox"), "VOICEMAIL_LOG_LEVEL": "ERROR"}
    return world, env


def test_messages_export_accepts_our_message_id(tmp_path: Path) -> None:
    world, env = sealed_world(tmp_path)
    ours = world.enqueued[1]
    out = tmp_path / "evidence.wav"
    result = CliRunner().invoke(main, ["messages", "export", ours, "-o", str(out), "--reason", "case 7"], env=env)
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(world.audio[1]).digest()
    events = AuditLog(make_engine(env["VOICEMAIL_DATABASE_URL"])).events()
    exports = [e for e in events if e.action == "message.export" and e.outcome == "ok"]
    assert [e.message_id for e in exports] == [ours]


def test_messages_export_of_an_unknown_id_fails_and_is_audited(tmp_path: Path) -> None:
    _world, env = sealed_world(tmp_path)
    out = tmp_path / "x.wav"
    result = CliRunner().invoke(main, ["messages", "export", "no-such-id", "-o", str(out), "--reason", "r"], env=env)
    assert result.exit_code == 1 and "no sealed message no-such-id" in result.output
    assert not out.exists()
    events = AuditLog(make_engine(env["VOICEMAIL_DATABASE_URL"])).events()
    assert [e.outcome for e in events if e.action == "message.export"] == ["error"]


def test_the_old_message_export_spelling_still_works(tmp_path: Path) -> None:
    world, env = sealed_world(tmp_path)
    record = world.store.get(world.enqueued[0])
    out = tmp_path / "e.wav"
    result = CliRunner().invoke(main, ["message", "export", "2001@default", record.msg_id, "-o", str(out),
                                       "--reason", "r"], env=env)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == world.audio[0]


def test_messages_list_has_a_header_and_never_shows_an_outside_callers_number(tmp_path: Path) -> None:
    world, env = sealed_world(tmp_path)
    result = CliRunner().invoke(main, ["messages", "list"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:5] == ["ID", "MAILBOX", "MSG_ID", "FOLDER", "STATE"]
    assert {line.split()[0] for line in lines[1:]} == set(world.enqueued)
    assert all("2001@default" in line and " stripped " in line for line in lines[1:])
    assert EXTERNAL_DIGITS not in result.output
    one = CliRunner().invoke(main, ["messages", "list", "--mailbox", "1001@default"], env=env)
    assert one.exit_code == 0 and one.output.strip() == "no messages"


def test_keys_retire_of_an_unknown_key_exits_non_zero(tmp_path: Path) -> None:
    _world, env = sealed_world(tmp_path)
    result = CliRunner().invoke(main, ["keys", "retire", "nosuch"], env=env)
    assert result.exit_code == 1
    assert "no key-encryption key 'nosuch'" in result.output


def test_config_show_prints_valid_toml_naming_where_each_value_came_from(tmp_path: Path) -> None:
    config = tmp_path / "vm.toml"
    config.write_text('[voicemail]\nami_host = "pbx.example.test"\nami_tls = true\n')
    env = {"VOICEMAIL_AMI_SECRET": 'se"cr\\et\n', "VOICEMAIL_AMI_PORT": "5039"}
    result = CliRunner().invoke(main, ["config", "show", "--config", str(config)], env=env)
    assert result.exit_code == 0, result.output
    table = tomllib.loads(result.output)["voicemail"]
    assert table["ami_host"] == "pbx.example.test" and table["ami_port"] == 5039
    assert table["ami_secret"] == "********" and "se\"cr" not in result.output
    comments = {line.split(" = ")[0]: line.rsplit("# ", 1)[1] for line in result.output.splitlines() if " = " in line}
    assert comments["ami_host"] == f"file {config}"
    assert comments["ami_port"] == "env VOICEMAIL_AMI_PORT"
    assert comments["ami_secret"] == "env VOICEMAIL_AMI_SECRET (secret, masked)"
    assert comments["ami_username"] == "default"


def test_a_command_prints_no_migration_chatter_before_its_output(tmp_path: Path) -> None:
    env = {**os.environ, "VOICEMAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
           "VOICEMAIL_KEYRING": str(tmp_path / "keyring.json"), "VOICEMAIL_LOG_LEVEL": "INFO"}
    subprocess.run([sys.executable, "-m", "voicemail.cli", "keys", "init"], env=env, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "voicemail.cli", "keys", "status"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "alembic" not in done.stderr
    assert done.stdout.startswith("backend: file")


def _on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the command with its standard error on a pseudo-terminal (as a person at a shell sees it)."""
    import pty

    leader, follower = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "voicemail.cli", *args], env=env, stdout=subprocess.PIPE,
                              stderr=follower, timeout=60)
    finally:
        os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return done.returncode, seen.decode("utf-8", "replace") + done.stdout.decode()


def test_reconcile_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    _world, env = sealed_world(tmp_path)
    code, screen = _on_a_terminal(["reconcile"], {**os.environ, **env})
    assert code == 0, screen
    assert "reconciling mailboxes" in screen and "1/1" in screen
    assert "mailboxes: 1" in screen
