"""The embedded sender: write each notification as ``<notification_id>.eml`` into a folder.

Writes are atomic (temporary file in the same folder, fsync, ``os.replace``, fsync of the folder), so a
reader never sees half a message, and idempotent: a notification already in the outbox is not written
again, only made durable (a batch that died before its sync may have left it). The file name is the
opaque notification id and nothing else. Inside ``batch()`` the per-file fsyncs are left out and the
whole batch is made durable by one file-system sync when it ends, before the caller records the sends.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from mailer.facts import check_notification_id
from mailer.rfc5322 import DEFAULT_MESSAGE_ID_DOMAIN, is_valid_domain, render_rfc5322
from voicemail.domain.errors import ConfigError, InvalidInput, PermanentError, TransientError
from voicemail.domain.models import OutgoingEmail
from voicemail.vault.private_files import sync_filesystem

FILE_MODE = 0o640
DIR_MODE = 0o750
TEMP_PREFIX = ".tmp-"  # readers take only "*.eml"; temporary files never match
TEMP_SUFFIX = ".part"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class OutboxMailer:
    """Implements the ``Mailer`` port by writing ``.eml`` files."""

    def __init__(
        self,
        directory: Path,
        *,
        message_id_domain: str = DEFAULT_MESSAGE_ID_DOMAIN,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not is_valid_domain(message_id_domain):
            raise ConfigError("message_id_domain must be a domain name, e.g. voicemail.example.org")
        self._directory = Path(directory)
        self._message_id_domain = message_id_domain
        self._clock = clock
        self._deferred = 0  # > 0 inside batch(): durability of the batch's files deferred to its end
        self._unsynced = False

    @property
    def directory(self) -> Path:
        return self._directory

    def path_for(self, notification_id: str) -> Path:
        try:
            check_notification_id(notification_id)
        except InvalidInput as exc:
            raise PermanentError(str(exc)) from None
        return self._directory / f"{notification_id}.eml"

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Send several notifications with one sync at the end (on a normal exit only: what was written
        before an error is synced by the next batch or lost with the machine, and then sent again, since
        its send was not recorded)."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
        if not self._deferred and self._unsynced:
            try:
                sync_filesystem(self._directory)
            except OSError as exc:
                raise TransientError(f"cannot sync the mail outbox: {exc.strerror or type(exc).__name__}") from exc
            self._unsynced = False

    def send(self, email: OutgoingEmail, before_commit: Callable[[], None] | None = None) -> None:
        """``before_commit`` runs after the temporary file is written, before it is renamed into place."""
        target = self.path_for(email.notification_id)
        data = render_rfc5322(email, message_id_domain=self._message_id_domain, date=self._clock())
        try:
            if not self._directory.is_dir():
                self._make_directory()
            if target.exists():  # already in the outbox: sending again changes nothing but its durability
                self._settle(target)
                return
            self._write_atomically(target, data, before_commit)
        except OSError as exc:
            raise TransientError(f"cannot write to the mail outbox: {exc.strerror or type(exc).__name__}") from exc

    def _write_atomically(self, target: Path, data: bytes, before_commit: Callable[[], None] | None = None) -> None:
        fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=self._directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), FILE_MODE)
                handle.write(data)
                handle.flush()
                if not self._deferred:
                    os.fsync(handle.fileno())
            if before_commit is not None:
                before_commit()
            os.replace(temp_name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise
        if self._deferred:
            self._unsynced = True
        else:
            self._fsync_directory()

    def _make_directory(self) -> None:
        """Create the outbox folder and its missing parents, each one's entry durable before anything is
        sent into it."""
        missing = [d for d in (self._directory, *self._directory.parents) if not d.is_dir()]
        for folder in reversed(missing):
            folder.mkdir(mode=DIR_MODE, exist_ok=True)
            self._fsync(folder.parent, os.O_RDONLY | os.O_DIRECTORY)

    def _settle(self, target: Path) -> None:
        """Make a file already in the outbox durable as if written now: an earlier batch may have written it
        and died before its sync (its send was not recorded, and is recorded after this one)."""
        if self._deferred:
            self._unsynced = True
            return
        self._fsync(target, os.O_RDONLY)
        self._fsync_directory()

    def _fsync_directory(self) -> None:
        self._fsync(self._directory, os.O_RDONLY | os.O_DIRECTORY)

    @staticmethod
    def _fsync(path: Path, flags: int) -> None:
        fd = os.open(path, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
