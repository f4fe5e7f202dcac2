"""`voicemail accounts …` and the account store on SQLite: passwords never on the command line, TOTP
secret wrapped, lockout, unlock, audit, and the 0005 migration both ways."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect

from voicemail.audit.store import AuditLog
from voicemail.cli import main
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.vault import FileKeyring
from voicemail.web.accounts_store import AccountStore
from voicemail.web.auth import totp
from voicemail.web.sessions_store import SessionStore

PASSWORD = "correct horse battery staple"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    FileKeyring.create(tmp_path / "keyring.json")
    return {"VOICEMAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "VOICEMAIL_KEYRING": str(tmp_path / "keyring.json"), "VOICEMAIL_VAULT_DIR": str(tmp_path / "vault")}


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def store(env: dict[str, str]) -> AccountStore:
    engine = make_engine(env["VOICEMAIL_DATABASE_URL"])
    return AccountStore(engine, FileKeyring(Path(env["VOICEMAIL_KEYRING"])))


def test_accounts_add_list_passwd_totp_unlock(env: dict[str, str]) -> None:
    run(env, "accounts", "add", "alice", "--mailbox", "1001@default", "--number", "1001", "--password-stdin",
        stdin=PASSWORD + "\n")
    run(env, "accounts", "add", "root", "--role", "administrator", "--role", "owner", stdin="another password!\n"
        "another password!\n")  # prompt with confirmation
    listing = run(env, "accounts", "list")
    assert "alice" in listing and "1001@default" in listing and "administrator,owner" in listing
    s = store(env)
    alice = s.by_username("alice")
    assert alice is not None and alice.numbers == ("1001",) and alice.roles == frozenset({"owner"})
    # a session, then passwd: sessions end and the new password works
    sessions = SessionStore(s.engine, 60, 600)
    raw, _ = sessions.create(alice.id, "password")
    run(env, "accounts", "passwd", "alice", "--password-stdin", stdin="a brand new password\n")
    assert sessions.lookup(raw) is None
    from voicemail.web.auth.passwords import verify_password

    alice = s.by_username("alice")
    assert alice is not None and verify_password(alice.password_hash, "a brand new password")
    # TOTP: the URI is printed once, the database holds only the wrapped secret
    out = run(env, "accounts", "totp", "enable", "alice")
    uri = next(line for line in out.splitlines() if line.startswith("otpauth://"))
    key = s.totp_key(alice.id)
    assert key is not None and f"secret={totp.secret_of(key)}" in uri
    assert "on" in run(env, "accounts", "list").splitlines()[1]
    run(env, "accounts", "totp", "disable", "alice")
    assert s.totp_key(alice.id) is None
    # lockout and unlock
    assert not s.record_failure(alice.id, 2, 600)
    assert s.record_failure(alice.id, 2, 600)
    alice = s.by_username("alice")
    assert alice is not None and alice.locked(time.time())
    run(env, "accounts", "unlock", "alice")
    alice = s.by_username("alice")
    assert alice is not None and not alice.locked(time.time())
    run(env, "accounts", "disable", "alice")
    alice = s.by_username("alice")
    assert alice is not None and alice.disabled and "disabled" in run(env, "accounts", "list")
    run(env, "accounts", "enable", "alice")
    alice = s.by_username("alice")
    assert alice is not None and not alice.disabled
    actions = [e.action for e in AuditLog(s.engine).events()]
    for action in ("account.create", "account.password", "account.totp", "account.unlock", "account.disable",
                   "account.enable"):
        assert action in actions


def test_passwords_are_not_accepted_as_arguments_and_bad_input_changes_nothing(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["accounts", "add", "eve", "--password", PASSWORD], env=env)
    assert result.exit_code == 2  # no such option
    for args, stdin in ((["accounts", "add", "../eve", "--password-stdin"], PASSWORD + "\n"),
                        (["accounts", "add", "eve", "--password-stdin"], "short\n"),
                        (["accounts", "add", "eve", "--mailbox", "../x@default", "--password-stdin"],
                         PASSWORD + "\n")):
        result = CliRunner().invoke(main, args, env=env, input=stdin)
        assert result.exit_code == 1, result.output
    run(env, "accounts", "add", "eve", "--password-stdin", stdin=PASSWORD + "\n")
    result = CliRunner().invoke(main, ["accounts", "add", "eve", "--password-stdin"], env=env, input=PASSWORD + "\n")
    assert result.exit_code == 1 and "already exists" in result.output
    assert [a.username for a in store(env).all()] == ["eve"]


def test_web_migration_downgrades_and_upgrades(tmp_path: Path) -> None:
    from alembic import command

    from voicemail.db.migrate import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite'}")
    upgrade(engine)
    assert {"web_accounts", "web_sessions"} <= set(inspect(engine).get_table_names())
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    assert not {"web_accounts", "web_sessions"} & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert {"web_accounts", "web_sessions"} <= set(inspect(engine).get_table_names())


def test_totp_secrets_follow_a_kek_rotation(env: dict[str, str]) -> None:
    run(env, "accounts", "add", "tom", "--password-stdin", stdin=PASSWORD + "\n")
    s = store(env)
    tom = s.by_username("tom")
    assert tom is not None
    s.enable_totp(tom.id)
    key = s.totp_key(tom.id)
    keyring = FileKeyring(Path(env["VOICEMAIL_KEYRING"]))
    old = keyring.current_kek_id()
    keyring.rotate()
    s = store(env)  # a keyring that knows the new KEK
    assert s.totp_wrapped_by(old) == 1
    run(env, "keys", "rewrap")  # the one command that re-wraps everything a KEK wraps, TOTP secrets included
    assert s.totp_wrapped_by(old) == 0 and s.rewrap_totp() == 0
    assert s.totp_key(tom.id) == key
    code = totp.current_code(key)  # type: ignore[arg-type]
    assert s.check_totp(tom.id, code)


def test_an_unreadable_totp_secret_fails_the_code_check_without_an_error(env: dict[str, str]) -> None:
    run(env, "accounts", "add", "uma", "--password-stdin", stdin=PASSWORD + "\n")
    s = store(env)
    uma = s.by_username("uma")
    assert uma is not None
    s.enable_totp(uma.id)
    key = s.totp_key(uma.id)
    assert key is not None
    Path(env["VOICEMAIL_KEYRING"]).unlink()
    FileKeyring.create(Path(env["VOICEMAIL_KEYRING"]))  # the KEK that wrapped it is gone
    assert not store(env).check_totp(uma.id, totp.current_code(key))
