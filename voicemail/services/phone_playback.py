"""Play a message on the owner's own phone: decrypt to a short-lived staging file, Originate the
device with ``Playback`` of that file, remove the file when the call ends, whatever the outcome.
``play`` returns a call id; ``status(call_id)`` tells what became of the call (``phone_calls``).

The staging folder is 2750 and each file 0640 in the group the service shares with Asterisk
(``voicemail.phone.staging``; Asterisk needs only to be a member of that group).
A file is removed when the OriginateResponse says Failure, when the
channel hangs up, when nothing is heard for ``ring_timeout + duration + margin`` seconds, or, if the
process died meanwhile, by ``sweep()`` (at start-up and before every new call) once it is older than
``max_age`` seconds. Plaintext lives on disk only for that window and only there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from voicemail.ami.mailbox_control import CallOutcome
from voicemail.domain.errors import FeatureUnavailable, NotFound
from voicemail.domain.models import MailboxRef, WrappedKey
from voicemail.domain.phone_call import CallStatus
from voicemail.domain.records import MessageRecord
from voicemail.phone.staging import StagingDir
from voicemail.services.phone_calls import CallBook
from voicemail.vault.range_reader import RangeReader

log = logging.getLogger(__name__)

PREFIX = "vmplay-"
CALL_MARGIN = 30.0


class Originator(Protocol):
    def originate_playback(self, channel: str, sound: str, caller_id: str, *, ring_timeout: float,
                           max_call: float, on_end: Callable[[CallOutcome], None],
                           on_response: Callable[[CallOutcome], None] | None = None) -> str: ...


class PhonePlayer(Protocol):
    """What the mailbox services need of "Play on my phone" (one site's PhonePlayback, or SitePhones)."""

    def play(self, record: MessageRecord, caller_id: str = "") -> str: ...

    def status(self, call_id: str) -> CallStatus | None: ...


class KeyUnwrapper(Protocol):
    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes: ...


class PhonePlayback:
    """``PhonePlayback(staging_dir, keyring, blob_path, originator, device_for, ring_timeout, max_age)``.

    ``device_for(mailbox)`` returns the owner's device channel (e.g. ``PJSIP/1001``) or None."""

    def __init__(self, staging_dir: Path, keyring: KeyUnwrapper, blob_path: Callable[[str], Path],
                 originator: Originator, device_for: Callable[[MailboxRef], str | None], *,
                 ring_timeout: float = 30.0, max_age: float = 3600.0, group: str = "",
                 calls: CallBook | None = None) -> None:
        self._dir = Path(staging_dir)
        self._staging = StagingDir(self._dir, group)
        self._keyring = keyring
        self._blob_path = blob_path
        self._originator = originator
        self._device_for = device_for
        self._ring_timeout = ring_timeout
        self._max_age = max_age
        self.calls = calls or CallBook()

    @property
    def staging_dir(self) -> Path:
        return self._dir

    def play(self, record: MessageRecord, caller_id: str = "") -> str:
        """Start the call; returns its id for ``status`` (the outcome follows as the call goes on)."""
        device = self._device_for(record.mailbox)
        if not device:
            raise FeatureUnavailable("no phone is configured for this mailbox")
        if record.wrapped_key is None or not record.recordings:
            raise NotFound(f"message {record.id} has no sealed audio")
        by_fmt = {r.fmt: r for r in record.recordings}
        chosen = by_fmt.get("wav") or by_fmt.get("WAV") or record.recordings[0]
        self.sweep()  # leftovers of a crash go at the next use too, not only at start-up
        path = self._decrypt_to(record, chosen.blob_name, f".{chosen.fmt}")
        stem = path.with_suffix("")
        call_id = self.calls.start(record.mailbox, record.id)

        def on_end(outcome: CallOutcome) -> None:
            path.unlink(missing_ok=True)
            self.calls.update(call_id, outcome, ended=True)
            log.info("phone playback %s ended: %s %s; staging file removed", outcome.reference, outcome.result,
                     outcome.reason)

        try:
            self._originator.originate_playback(
                device, str(stem), caller_id or f'"Voicemail" <{record.mailbox.mailbox}>',
                ring_timeout=self._ring_timeout, max_call=record.duration + CALL_MARGIN, on_end=on_end,
                on_response=lambda outcome: self.calls.update(call_id, outcome, ended=False))
        except BaseException:
            path.unlink(missing_ok=True)
            self.calls.forget(call_id)
            raise
        return call_id

    def status(self, call_id: str) -> CallStatus | None:
        return self.calls.get(call_id)

    def _decrypt_to(self, record: MessageRecord, blob_name: str, suffix: str) -> Path:
        assert record.wrapped_key is not None
        key_id = record.id.encode()
        dek = self._keyring.unwrap(record.wrapped_key, key_id)
        with RangeReader(self._blob_path(blob_name), dek, key_id) as reader:
            pieces = reader.read(0, reader.size - 1) if reader.size else iter(())
            return self._staging.write(PREFIX, suffix, pieces)

    def sweep(self, now: float | None = None) -> int:
        """Remove staging files older than ``max_age`` (left by a crash). Returns how many."""
        return self._staging.sweep(PREFIX, self._max_age, now)
