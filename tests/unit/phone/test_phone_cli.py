"""`voicemail phone …`: import a site's voicemail.conf PINs, set one from standard input, unlock."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from voicemail.audit.store import AuditLog
from voicemail.cli import main
from voicemail.db.engine import make_engine
from voicemail.domain.models import MailboxRef
from voicemail.phone.pin_store import SqlPinStore

CONF = """[general]
format = wav
[default]
1001 => 4242,Alice Internal,alice@example.test
1002 => 583920,Bob Internal
2001 => pin,Carol
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"VOICEMAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "VOICEMAIL_PHONE_PIN_MAX_FAILURES": "2"}


def run(env: dict[str, str], *args: str, stdin: str | None = None, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_import_lists_weak_pins_and_skipped_lines_without_showing_any_pin(env: dict[str, str],
                                                                           tmp_path: Path) -> None:
    conf = tmp_path / "voicemail.conf"
    conf.write_text(CONF)
    out = run(env, "phone", "import-pins", str(conf))
    assert "imported 2 PIN(s)" in out
    assert "weak: 1001@default: shorter than 6 digits" in out
    assert "skipped line 6: mailbox 2001@default: the password is not digits only" in out
    assert "4242" not in out and "583920" not in out
    store = SqlPinStore(make_engine(env["VOICEMAIL_DATABASE_URL"]))
    row = store.get(MailboxRef("default", "1002"))
    assert row is not None and row.pin_hash.startswith("$argon2id$")


def test_pin_set_reads_stdin_and_refuses_trivial_pins(env: dict[str, str]) -> None:
    out = run(env, "phone", "pin", "set", "1001", stdin="111111\n", code=1)
    assert "too easy to guess (one digit repeated)" in out and "111111" not in out
    assert run(env, "phone", "pin", "set", "1001@default", stdin="583920\n") == "PIN of 1001@default set\n"
    engine = make_engine(env["VOICEMAIL_DATABASE_URL"])
    store = SqlPinStore(engine)
    for _ in range(2):
        store.record_failure(MailboxRef("default", "1001"), 0.0, 2, 3600.0)
    row = store.get(MailboxRef("default", "1001"))
    assert row is not None and row.locked_until is not None
    assert run(env, "phone", "unlock", "1001") == "1001@default unlocked\n"
    row = store.get(MailboxRef("default", "1001"))
    assert row is not None and row.locked_until is None and row.failed_count == 0
    assert "has no phone PIN" in run(env, "phone", "unlock", "4444", code=1)
    actions = [(e.action, e.outcome) for e in AuditLog(engine).iter_all()]
    assert actions == [("phone.pin.set", "ok"), ("phone.unlock", "ok"), ("phone.unlock", "error")]
