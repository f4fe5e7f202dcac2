"""`voicemail directory sync|status` and the scheduled Celery task, against a real OpenLDAP."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.integration.ldap.conftest import USERS, ldap_env, ldap_settings
from tests.integration.ldap.slapd import Slapd
from voicemail.cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_cli_sync_prints_added_changed_disabled_and_status_tells_whether_it_is_trusted(
        runner: CliRunner, slapd: Slapd, tmp_path: Path) -> None:
    env = ldap_env(slapd, tmp_path)

    full = runner.invoke(main, ["directory", "sync", "--full"], env=env)
    assert full.exit_code == 0, full.output
    assert f"full sync: {USERS} fetched, {USERS} added, 0 changed (0 disabled), 0 removed" in full.stdout
    assert "(full: requested)" in full.stdout
    assert "directory sync" in full.stderr  # the progress bar

    slapd.modify("cn=user00005,ou=people,dc=example,dc=test", userAccountControl="514")
    incremental = runner.invoke(main, ["directory", "sync"], env=env)
    assert incremental.exit_code == 0, incremental.output
    assert "incremental sync:" in incremental.stdout and "1 changed (1 disabled)" in incremental.stdout

    status = runner.invoke(main, ["directory", "status"], env=env)
    assert status.exit_code == 0, status.output
    assert f"users: {USERS}  active: {USERS - USERS // 10 - 1}" in status.stdout
    assert "trusted for classification: yes" in status.stdout


def test_cli_sync_of_an_unreachable_directory_exits_1_with_one_line(
        runner: CliRunner, slapd: Slapd, tmp_path: Path) -> None:
    env = ldap_env(slapd, tmp_path)
    slapd.stop()

    result = runner.invoke(main, ["directory", "sync"], env=env)

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("voicemail: cannot connect or bind to localhost")
    status = runner.invoke(main, ["directory", "status"], env=env)
    assert "trusted for classification: NO - the directory has never been synchronised" in status.stdout
    assert "last error: cannot connect" in status.stdout


def test_cli_sync_without_ldap_url_is_a_configuration_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["directory", "sync"], env={"VOICEMAIL_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                                                             "VOICEMAIL_LDAP_URL": ""})

    assert result.exit_code == 2 and "VOICEMAIL_LDAP_URL" in result.stderr


@pytest.fixture
def installed(slapd: Slapd, tmp_path: Path) -> Iterator[object]:
    from voicemail.app import build_container
    from voicemail.vault import FileKeyring
    from workers import runtime
    from workers.celery_app import configure

    settings = dataclasses.replace(ldap_settings(slapd, tmp_path), keyring=str(tmp_path / "keyring.json"),
                                   vault_dir=str(tmp_path / "vault"), spool_dir=str(tmp_path / "spool"),
                                   outbox_dir=str(tmp_path / "outbox"))
    FileKeyring.create(Path(settings.keyring))
    configure(settings)
    container = build_container(settings, on_new=lambda _id: None)
    runtime.install(container)
    try:
        yield container
    finally:
        container.close()
        runtime._container = None


def test_the_scheduled_task_syncs_and_the_container_classifies_from_the_synced_copy(installed: object) -> None:
    from voicemail.app import Container
    from voicemail.directory.db_directory import DbDirectory
    from voicemail.domain.models import CallerKind, Envelope
    from workers.celery_app import app
    from workers.tasks import directory_sync

    assert isinstance(installed, Container)
    assert isinstance(installed.directory, DbDirectory)
    assert app.conf.beat_schedule["directory-sync"] == {"task": "workers.tasks.directory_sync",
                                                        "schedule": installed.settings.ldap_sync_interval}
    envelope = Envelope(msg_id="1700000000-00000001", origmailbox="2001", context="vm-internal", exten="2001",
                        callerid='"Spoofable" <+1 202 555 1006>', origtime=1700000000, duration=3)
    classify = installed.discovery._classify
    assert classify(envelope).kind is CallerKind.EXTERNAL  # not synced yet: fail closed

    result = directory_sync.apply().get()

    assert (result["mode"], result["added"]) == ("full", USERS)
    caller = classify(envelope)
    assert (caller.kind, caller.name, caller.number) == (CallerKind.INTERNAL, "Test User 00006", "1006")
    assert installed.classification.snapshot()["directory_unavailable"] == 1


def test_the_schedule_of_voicemail_run_syncs_at_start_and_survives_failures(slapd: Slapd, tmp_path: Path) -> None:
    """Without a broker there is no `voicemail beat`: `voicemail run` runs this loop instead."""
    import asyncio

    from voicemail.db.engine import make_engine, make_sessionmaker
    from voicemail.db.migrate import upgrade
    from voicemail.directory.from_settings import directory_store
    from voicemail.directory.operations import run_sync_schedule

    settings = dataclasses.replace(ldap_settings(slapd, tmp_path), ldap_sync_interval=0.05)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    store = directory_store(make_sessionmaker(engine))

    async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            assert loop.time() < deadline, "the schedule did not get there in time"
            await asyncio.sleep(0.02)

    async def scenario() -> None:
        task = asyncio.create_task(run_sync_schedule(settings, engine))
        await until(lambda: store.counts()["users"] == USERS)  # the sync at start
        slapd.stop()
        await until(lambda: (s := store.state()) is not None and "cannot connect" in s.last_error)
        assert not task.done()  # a failure does not end the schedule
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(scenario())
    finally:
        engine.dispose()
