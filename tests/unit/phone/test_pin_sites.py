"""Phone PINs with several sites: 1001@default on each Asterisk has its own PIN and its own lockout, the
audit names the site when more than one is configured, and `voicemail phone … --site NAME` acts on that
site's mailboxes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from voicemail.audit.store import AuditLog
from voicemail.cli import main
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.domain.models import MailboxRef
from voicemail.phone.pin_store import SqlPinStore
from voicemail.phone.tables import phone_pins
from voicemail.services.phone_pins import Argon2PinHasher, PinService

HQ, BRANCH = MailboxRef("default", "1001"), MailboxRef("default", "1001", "branch")
CHEAP = Argon2PinHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'pins.db'}")
    upgrade(engine, "hq")
    yield engine
    engine.dispose()


def service(engine: Engine, default_site: str) -> PinService:
    return PinService(SqlPinStore(engine, "hq"), CHEAP, AuditLog(engine), min_length=6, max_failures=2,
                      lockout_seconds=600, default_site=default_site)


def test_each_site_s_mailbox_has_its_own_pin_and_lockout(engine: Engine) -> None:
    pins = service(engine, "hq")
    pins.set_pin(HQ, "583920", actor="root", source="cli")
    pins.set_pin(BRANCH, "740316", actor="root", source="cli")
    assert pins.verify(BRANCH, "583920", source="phone a") == "wrong"  # the default site's PIN
    assert pins.verify(BRANCH, "583920", source="phone a") == "wrong"  # locks the branch's 1001 only
    assert pins.verify(BRANCH, "740316", source="phone a") == "locked"
    assert pins.verify(HQ, "583920", source="phone b") == "ok"
    assert pins.verify(MailboxRef("default", "1001", "other"), "583920", source="phone c") == "unknown"
    with engine.connect() as conn:
        rows = sorted((r.site, r.mailbox, r.locked_until is not None) for r in conn.execute(select(phone_pins)))
    assert rows == [("branch", "1001", True), ("hq", "1001", False)]
    sites = [(e.action, json.loads(e.details)["site"]) for e in AuditLog(engine).iter_all()]
    assert sites == [("phone.pin.set", "hq"), ("phone.pin.set", "branch"), ("phone.signin", "branch"),
                     ("phone.signin", "branch"), ("phone.lockout", "branch"), ("phone.signin", "branch"),
                     ("phone.signin", "hq"), ("phone.signin", "other")]


def test_with_one_site_the_audit_names_no_site(engine: Engine) -> None:
    pins = service(engine, "")
    pins.set_pin(HQ, "583920", actor="root", source="cli")
    assert pins.verify(HQ, "583920", source="phone a") == "ok"
    assert [json.loads(e.details) for e in AuditLog(engine).iter_all()] == [
        {"mailbox": "1001@default"}, {"mailbox": "1001@default"}]


def test_import_of_a_site_s_voicemail_conf_sets_that_site_s_pins(engine: Engine) -> None:
    pins = service(engine, "hq")
    report = pins.import_conf("[default]\n1001 => 583920,Dora\n", actor="root", source="cli", site="branch")
    assert report.imported == [BRANCH]
    assert pins.verify(BRANCH, "583920", source="phone") == "ok"
    assert pins.verify(HQ, "583920", source="phone") == "unknown"
    imported = [json.loads(e.details) for e in AuditLog(engine).iter_all() if e.action == "phone.pin.import"]
    assert imported == [{"imported": 1, "weak": [], "problems": 0, "site": "branch"}]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"VOICEMAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "VOICEMAIL_SITE_NAME": "hq",
            "VOICEMAIL_SITES": "branch"}


def run(env: dict[str, str], *args: str, stdin: str | None = None, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_the_cli_sets_imports_and_unlocks_the_pins_of_the_site_named(env: dict[str, str], tmp_path: Path) -> None:
    assert run(env, "phone", "pin", "set", "1001", "--site", "branch", stdin="583920\n") == \
        "PIN of 1001@default@branch set\n"
    assert run(env, "phone", "pin", "set", "1001", "--site", "hq", stdin="740316\n") == "PIN of 1001@default set\n"
    conf = tmp_path / "voicemail.conf"
    conf.write_text("[default]\n1002 => 4242,Eve\n")
    assert run(env, "phone", "import-pins", str(conf), "--site", "branch").splitlines() == [
        "imported 1 PIN(s)", "weak: 1002@default@branch: shorter than 6 digits; ask the owner to choose another"]
    assert "unknown site 'elsewhere'" in run(env, "phone", "pin", "set", "1001", "--site", "elsewhere",
                                             stdin="583920\n", code=1)
    assert run(env, "phone", "unlock", "1001", "--site", "branch") == "1001@default@branch unlocked\n"
    store = SqlPinStore(make_engine(env["VOICEMAIL_DATABASE_URL"]), "hq")
    assert {ref.qualified for ref in (HQ, BRANCH, MailboxRef("default", "1002", "branch"))
            if store.get(ref) is not None} == {"1001@default", "1001@default@branch", "1002@default@branch"}
    assert store.get(MailboxRef("default", "1002")) is None
