"""`voicemail doctor`'s checks against the Asterisk stand-in, the real PostgreSQL and Redis: a complete
installation passes every check, and each missing or broken piece fails its own check, named."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import fresh_pg_database
from tests.integration.pipeline.harness import Site, free_port
from voicemail.audit.signing import SigningKey
from voicemail.config import Settings
from voicemail.ops.doctor import diagnose, healthy

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def close_to_others(root: Path) -> None:
    """What deploy/README.md asks of the spool: no access for other local users."""
    for folder, dirs, _files in os.walk(root):
        os.chmod(folder, 0o770)
        for name in dirs:
            os.chmod(Path(folder) / name, 0o770)


@pytest.fixture
def site(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[Site]:
    site = Site(tmp_path / "site", pg_url, broker_url=redis_url)
    site.start_standin()
    try:
        site.prepare()
        SigningKey.create(site.root / "audit-signing.pem")
        (site.root / "outbox").mkdir()
        close_to_others(site.spool)
        yield site
    finally:
        site.stop_all()


def results_of(settings: Settings) -> dict[str, tuple[bool, bool, str]]:
    return {r.name: (r.ok, r.skipped, r.detail) for r in diagnose(settings)}


def failing(settings: Settings) -> dict[str, str]:
    return {r.name: r.detail for r in diagnose(settings) if not r.ok}


def test_complete_installation_passes_every_check(site: Site) -> None:
    settings = site.settings()
    results = diagnose(settings)
    assert healthy(results), [r.line() for r in results if not r.ok]
    names = [r.name for r in results]
    assert names == ["config", "database", "broker", "keyring", "signing-key", "ami", "listener", "spool", "staging",
                     "mailer"]
    by_name = {r.name: r for r in results}
    assert not by_name["broker"].skipped and "redis://127.0.0.1:6379/" in by_name["broker"].detail
    assert "VoicemailMove" in by_name["ami"].detail and "VoicemailRefresh" in by_name["ami"].detail
    assert not by_name["staging"].skipped  # the telephone menu is on (the default) and needs the folder
    assert "AGI allowed" in by_name["ami"].detail  # the menu's Async AGI actions
    assert all(len(r.line().splitlines()) == 1 for r in results)
    assert settings.ami_secret not in "".join(r.line() for r in results)


def test_wrong_ami_secret_fails_the_ami_check(site: Site) -> None:
    settings = dataclasses.replace(site.settings(), ami_secret="not-the-secret")
    bad = failing(settings)
    assert set(bad) == {"ami"}
    assert "refused" in bad["ami"] and f"127.0.0.1:{site.port}" in bad["ami"]
    assert "not-the-secret" not in bad["ami"]


def test_unmigrated_database_fails_the_database_check(site: Site) -> None:
    with fresh_pg_database("vm_doctor") as empty:
        bad = failing(dataclasses.replace(site.settings(), database_url=empty))
    assert set(bad) == {"database"}
    assert "not migrated" in bad["database"] and "no schema" in bad["database"]
    assert empty.rsplit("/", 1)[1] in bad["database"]


def test_missing_keyring_fails_the_keyring_check_naming_the_file(site: Site) -> None:
    missing = site.root / "elsewhere" / "keyring.json"
    bad = failing(dataclasses.replace(site.settings(), keyring=str(missing)))
    assert set(bad) == {"keyring"}
    assert str(missing) in bad["keyring"] and "voicemail keys init" in bad["keyring"]


def test_group_readable_signing_key_fails_the_signing_key_check(site: Site) -> None:
    os.chmod(site.root / "audit-signing.pem", 0o640)
    bad = failing(site.settings())
    assert set(bad) == {"signing-key"}
    assert str(site.root / "audit-signing.pem") in bad["signing-key"]


def test_spool_open_to_other_users_fails_with_the_umask_fix(site: Site) -> None:
    inbox = site.spool / "default" / "1001" / "INBOX"
    inbox.mkdir(parents=True, exist_ok=True)
    close_to_others(site.spool)
    os.chmod(inbox, 0o755)
    (inbox / "msg0000.txt").write_text(";\n[message]\norigmailbox=1001\n")
    os.chmod(inbox / "msg0000.txt", 0o666)  # as app_voicemail leaves every .txt
    bad = failing(site.settings())
    assert set(bad) == {"spool"}
    assert str(inbox) in bad["spool"] and "0755" in bad["spool"] and "UMask=0007" in bad["spool"]
    assert bad["spool"].startswith("1 folder(s)") and "1 message .txt" in bad["spool"]


def test_missing_spool_fails_the_spool_check_naming_it(site: Site) -> None:
    gone = site.root / "no-spool-here"
    bad = failing(dataclasses.replace(site.settings(), spool_dir=str(gone)))
    assert set(bad) == {"spool"} and str(gone) in bad["spool"]


def test_broker_down_fails_the_broker_check(site: Site) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    bad = failing(dataclasses.replace(site.settings(), broker_url=closed))
    assert set(bad) == {"broker"}
    assert closed in bad["broker"] and "cannot connect" in bad["broker"]


def test_staging_folder_open_to_others_fails_when_play_on_phone_is_on(site: Site) -> None:
    staging = site.root / "phone-staging"
    staging.mkdir(mode=0o755)
    os.chmod(staging, 0o755)
    settings = dataclasses.replace(site.settings(), phone_device_template="PJSIP/{mailbox}",
                                   phone_staging_dir=str(staging))
    bad = failing(settings)
    assert set(bad) == {"staging"} and str(staging) in bad["staging"]
    os.chmod(staging, 0o700)
    assert failing(settings) == {}


def test_unwritable_outbox_fails_the_mailer_check(site: Site) -> None:
    blocker = site.root / "a-file"
    blocker.write_text("not a folder\n")
    bad = failing(dataclasses.replace(site.settings(), outbox_dir=str(blocker / "outbox")))
    assert set(bad) == {"mailer"} and str(blocker / "outbox") in bad["mailer"]


def test_ami_user_without_the_user_class_is_told_which_actions_it_lacks() -> None:
    from voicemail.ops.remote_checks import missing_actions
    from voicemail.standin.commands import list_commands

    # ListCommands lists only the actions the user's write classes allow (main/manager.c): without `user`,
    # Move, Remove and Refresh (Priv: user,all) are not listed.
    listed = {line.split(":", 1)[0] for line in list_commands() if "(Priv: user,all)" not in line}
    assert missing_actions(listed, Settings()) == ["VoicemailMove", "VoicemailRemove", "VoicemailRefresh"]
    every = {line.split(":", 1)[0] for line in list_commands()}
    assert missing_actions(every, Settings()) == []
    assert missing_actions(every - {"Originate"}, Settings(phone_device_template="PJSIP/{mailbox}")) == ["Originate"]


def test_rabbitmq_broker_is_checked_with_its_credentials(site: Site) -> None:
    good = dataclasses.replace(site.settings(), broker_url="amqp://guest:guest@127.0.0.1:5672//")
    assert failing(good) == {}
    wrong = dataclasses.replace(good, broker_url="amqp://guest:wrong-password@127.0.0.1:5672//")
    bad = failing(wrong)
    assert set(bad) == {"broker"} and "wrong-password" not in bad["broker"]


def test_doctor_command_prints_one_line_per_check_and_exits_0_when_all_pass(site: Site) -> None:
    from click.testing import CliRunner

    from voicemail.cli import main

    result = CliRunner().invoke(main, ["doctor"], env=site.env())
    lines = result.output.splitlines()
    assert result.exit_code == 0, result.output
    # the staging check runs (the telephone menu is on); the listener check is skipped: no `voicemail run` yet
    assert [ln.split()[0] for ln in lines] == ["ok"] * 6 + ["skip"] + ["ok"] * 3
    assert site.secret not in result.output


def test_doctor_command_names_each_failure_and_exits_1(site: Site) -> None:
    from click.testing import CliRunner

    from voicemail.cli import main

    env = site.env(VOICEMAIL_AMI_SECRET="wrong", VOICEMAIL_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0",
                   VOICEMAIL_KEYRING=str(site.root / "missing-keyring.json"))
    result = CliRunner().invoke(main, ["doctor"], env=env)
    assert result.exit_code == 1, result.output
    failing_lines = [ln for ln in result.output.splitlines() if ln.startswith("FAIL")]
    assert [ln.split()[1] for ln in failing_lines] == ["broker", "keyring", "ami"]
    only = CliRunner().invoke(main, ["doctor", "--check", "database", "--check", "spool"], env=env)
    assert only.exit_code == 0 and len(only.output.splitlines()) == 2, only.output


def test_doctor_command_reports_a_bad_setting_as_a_failed_config_check() -> None:
    from click.testing import CliRunner

    from voicemail.cli import main

    result = CliRunner().invoke(main, ["doctor"], env={"VOICEMAIL_VAULT_DIR": "relative/vault"})
    assert result.exit_code == 1
    assert result.output.startswith("FAIL  config") and "VOICEMAIL_VAULT_DIR" in result.output


def test_database_server_down_fails_the_database_check_naming_it(site: Site) -> None:
    port = free_port()
    url = f"postgresql+psycopg://voicemail:db-password@127.0.0.1:{port}/voicemail"
    bad = failing(dataclasses.replace(site.settings(), database_url=url))
    assert set(bad) == {"database"}
    assert f"127.0.0.1:{port}/voicemail" in bad["database"] and "cannot read the database" in bad["database"]
    assert "db-password" not in bad["database"]
