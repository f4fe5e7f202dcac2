"""The outbox sender: atomic, idempotent, one file per notification named by its opaque id."""

from __future__ import annotations

import stat
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailer import OutboxMailer, compose
from tests.durability import DurabilityLog
from tests.unit.mailer.mailer_testdata import NOTIFICATION_ID, SENT, SETTINGS, facts, internal, parse
from voicemail.domain.errors import ConfigError, PermanentError, TransientError
from voicemail.domain.models import OutgoingEmail


def _email(notification_id: str = NOTIFICATION_ID) -> OutgoingEmail:
    return compose(facts(internal(), notification_id=notification_id), SETTINGS)


def test_send_writes_one_eml_named_by_the_notification_id(tmp_path: Path) -> None:
    OutboxMailer(tmp_path, clock=lambda: SENT).send(_email())
    assert [path.name for path in tmp_path.iterdir()] == [f"{NOTIFICATION_ID}.eml"]
    message = parse((tmp_path / f"{NOTIFICATION_ID}.eml").read_bytes())
    assert message["X-Voicemail-Id"] == NOTIFICATION_ID
    assert message["Subject"] == "Voice message from Bob Colleague (1002)"


def test_outbox_file_is_mode_0640(tmp_path: Path) -> None:
    OutboxMailer(tmp_path, clock=lambda: SENT).send(_email())
    mode = stat.S_IMODE((tmp_path / f"{NOTIFICATION_ID}.eml").stat().st_mode)
    assert mode == 0o640


def test_sending_the_same_notification_twice_leaves_one_unchanged_file(tmp_path: Path) -> None:
    OutboxMailer(tmp_path, clock=lambda: SENT).send(_email())
    first = (tmp_path / f"{NOTIFICATION_ID}.eml").read_bytes()
    later = OutboxMailer(tmp_path, clock=lambda: datetime(2027, 1, 1, tzinfo=UTC))
    later.send(_email())
    later.send(_email())
    assert [path.name for path in tmp_path.iterdir()] == [f"{NOTIFICATION_ID}.eml"]
    assert (tmp_path / f"{NOTIFICATION_ID}.eml").read_bytes() == first


def test_different_notifications_get_different_files(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path, clock=lambda: SENT)
    mailer.send(_email("first-1"))
    mailer.send(_email("second-2"))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["first-1.eml", "second-2.eml"]


def test_missing_outbox_directory_is_created(tmp_path: Path) -> None:
    outbox = tmp_path / "spool" / "outbox"
    OutboxMailer(outbox, clock=lambda: SENT).send(_email())
    assert (outbox / f"{NOTIFICATION_ID}.eml").is_file()


def test_a_send_that_creates_the_outbox_folders_makes_them_durable_with_its_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = DurabilityLog(tmp_path)
    log.install(monkeypatch)
    outbox = tmp_path / "spool" / "outbox"
    OutboxMailer(outbox, clock=lambda: SENT).send(_email())
    assert log.problem(outbox / f"{NOTIFICATION_ID}.eml") is None


def test_sending_again_makes_a_file_an_interrupted_batch_left_unsynced_durable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mailer = OutboxMailer(tmp_path / "outbox", clock=lambda: SENT)
    log = DurabilityLog(tmp_path)
    log.install(monkeypatch)
    with pytest.raises(RuntimeError), mailer.batch():
        mailer.send(_email())
        raise RuntimeError("the worker's batch failed")
    target = tmp_path / "outbox" / f"{NOTIFICATION_ID}.eml"
    assert log.problem(target) is not None
    OutboxMailer(tmp_path / "outbox", clock=lambda: SENT).send(_email())  # the send again, by a new process
    assert log.problem(target) is None


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", "x.eml", "", "id with space", "é", "-leading"])
def test_invalid_notification_id_is_a_permanent_error_and_writes_nothing(tmp_path: Path, bad_id: str) -> None:
    outbox = tmp_path / "outbox"
    email = replace(_email(), notification_id=bad_id, headers=())
    with pytest.raises(PermanentError):
        OutboxMailer(outbox, clock=lambda: SENT).send(email)
    assert [path.name for path in tmp_path.iterdir()] == []


def test_unwritable_outbox_is_a_transient_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    with pytest.raises(TransientError):
        OutboxMailer(blocker / "outbox", clock=lambda: SENT).send(_email())


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path, clock=lambda: SENT)
    for number in range(5):
        mailer.send(_email(f"n-{number}"))
    assert all(path.suffix == ".eml" and not path.name.startswith(".") for path in tmp_path.iterdir())


def test_bad_message_id_domain_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        OutboxMailer(tmp_path, message_id_domain="evil>\r\nBcc: x")


def test_a_batch_writes_every_file_without_fsync_and_syncs_the_file_system_once_at_its_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import mailer.outbox as outbox

    synced: list[Path] = []
    fsyncs: list[int] = []
    monkeypatch.setattr(outbox, "sync_filesystem", synced.append)
    real_fsync = os.fsync

    def counted_fsync(fd: int) -> None:
        fsyncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counted_fsync)
    mailer = OutboxMailer(tmp_path, clock=lambda: SENT)
    ids = [f"{NOTIFICATION_ID[:-1]}{n}" for n in range(3)]
    with mailer.batch():
        for notification_id in ids:
            mailer.send(_email(notification_id))
        assert synced == [] and fsyncs == []  # nothing made durable before the batch ends
    assert synced == [tmp_path]
    assert sorted(p.stem for p in tmp_path.glob("*.eml")) == sorted(ids)
    mailer.send(_email(f"{NOTIFICATION_ID[:-1]}9"))  # outside a batch: its own fsyncs, no file-system sync
    assert synced == [tmp_path] and len(fsyncs) == 2


def test_a_batch_that_fails_is_not_synced_as_if_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mailer.outbox as outbox

    synced: list[Path] = []
    monkeypatch.setattr(outbox, "sync_filesystem", synced.append)
    mailer = OutboxMailer(tmp_path, clock=lambda: SENT)
    with pytest.raises(RuntimeError), mailer.batch():
        mailer.send(_email())
        raise RuntimeError("the worker's batch failed")
    assert synced == []
    with mailer.batch():  # the next batch syncs what the failed one wrote as well
        pass
    assert synced == [tmp_path]
