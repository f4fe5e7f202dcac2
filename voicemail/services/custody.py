"""Custody: seal (stream into the vault, verify, commit), then strip (placeholder in the spool).

The order is the guarantee: a crash at any point leaves a message either plaintext-and-pending or
sealed-and-committed, never stripped without a committed, verified sealed copy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO, cast

from voicemail.domain.errors import LeaseLost, SpoolChanged
from voicemail.domain.models import SealedRecording, SpoolMessage
from voicemail.domain.ports import AsteriskControl, Keyring, MessageStore, Spool, Vault
from voicemail.domain.records import DISCOVERED, SEALED, STRIPPED, VANISHED, CustodyRun, MessageRecord
from voicemail.failpoints import Failpoints
from voicemail.vault import new_data_key

log = logging.getLogger(__name__)

VANISH_RECHECK_SECONDS = 0.5
MAX_UNFINISHED_RUNS = 5


def blob_name(message_id: str, fmt: str, attempt: str) -> str:
    """A fresh name per seal attempt (the custody run's token): two workers sealing the same message at
    once (a re-delivered task) never overwrite each other's blob; only the newest run may commit, the other
    deletes its own, and vault GC removes what a killed run left."""
    return f"{message_id}.{fmt}.{attempt}"


class _Heartbeat:
    """A readable source that calls ``beat`` as it is read (rate-limited), so a long seal shows progress.
    It passes on ``readinto``, ``fileno`` and ``tell``, so that the vault still sees a regular file of
    known length (read into its own buffers, and sealed on threads when long)."""

    def __init__(self, source: BinaryIO, beat: Callable[[], None]) -> None:
        self._source, self._beat = source, beat

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._beat()
        return data

    def readinto(self, buffer: memoryview) -> int | None:
        readinto = getattr(self._source, "readinto", None)
        if readinto is not None:
            got: int | None = readinto(buffer)
        else:
            data = self._source.read(len(buffer))
            buffer[:len(data)] = data
            got = len(data)
        self._beat()
        return got

    def fileno(self) -> int:
        return self._source.fileno()

    def tell(self) -> int:
        return self._source.tell()


class Custody:
    def __init__(self, spool: Spool, vault: Vault, keyring: Keyring, store: MessageStore,
                 asterisk: AsteriskControl | None = None, failpoints: Failpoints | None = None,
                 max_unfinished_runs: int = MAX_UNFINISHED_RUNS, heartbeat_every: float = 15.0) -> None:
        self._spool = spool
        self._max_unfinished = max_unfinished_runs
        self._heartbeat_every = heartbeat_every
        self._vault = vault
        self._keyring = keyring
        self._store = store
        self._asterisk = asterisk
        self._fail = failpoints or Failpoints()
        # --- lifecycle: called with the message id after each committed seal (vault quota) ---
        self.after_seal: Callable[[str], None] | None = None

    def _locate(self, record: MessageRecord, seen: SpoolMessage | None = None) -> SpoolMessage | None:
        if seen is not None:
            hint: tuple[str, int] | None = (seen.folder, seen.number)
        else:
            hint = (record.folder, record.number) if record.number is not None else None
        return self._spool.find(record.mailbox, record.msg_id, hint)

    @contextlib.contextmanager
    def _run(self, record: MessageRecord) -> Iterator[CustodyRun | None]:
        """Count the run in the database before the work starts (CrashLoop when too many runs in a row
        died with their worker); a run that ends in this process, well or with an error, is uncounted."""
        if record.state not in (DISCOVERED, SEALED):
            yield None
            return
        run = self._store.begin_custody(record.id, self._max_unfinished)
        try:
            yield run
        finally:
            try:
                self._store.end_custody(record.id)
            except Exception as exc:  # the database went away: the run stays counted, as if it had died
                log.warning("could not record the end of custody run of %s: %s", record.id, type(exc).__name__)

    def _beater(self, message_id: str) -> Callable[[], None]:
        """Marks the message as progressing at most every ``heartbeat_every`` seconds: the sweeper then
        never re-enqueues a seal that is merely long (a 60-minute recording on slow storage)."""
        last = time.monotonic()

        def beat() -> None:
            nonlocal last
            if time.monotonic() - last >= self._heartbeat_every:
                last = time.monotonic()
                self._store.touch("message", message_id)
        return beat

    def take_custody(self, message_id: str) -> str | None:
        """Seal (when not yet sealed), then strip. Returns the notification id, or None when the
        message left the spool before it could be sealed. One database read for both steps."""
        record = self._store.get(message_id)
        with self._run(record) as run:
            seen: SpoolMessage | None = None
            if record.state == DISCOVERED:
                outcome, record, seen = self._seal(record, run)
                if outcome == "already":  # another worker sealed it meanwhile
                    record = self._store.get(message_id)
            if record.state not in (SEALED, STRIPPED):
                return None
            return self._strip(record, seen)

    def seal(self, message_id: str) -> str:
        """Seal every format of the message. Returns "sealed", "already" or "vanished"."""
        record = self._store.get(message_id)
        with self._run(record) as run:
            return self._seal(record, run)[0]

    def _seal(self, record: MessageRecord, run: CustodyRun | None) -> tuple[str, MessageRecord, SpoolMessage | None]:
        message_id = record.id
        if record.state != DISCOVERED or run is None:
            return "already", record, None
        found = self._locate(record)
        if found is None:
            time.sleep(VANISH_RECHECK_SECONDS)  # Asterisk may be renumbering the folder right now
            found = self._locate(record)
        if found is None:
            self._store.mark_vanished(message_id)
            log.info("message %s left the spool before it was sealed", message_id)
            return "vanished", dataclasses.replace(record, state=VANISHED), None
        dek = new_data_key()
        key_id = message_id.encode()
        attempt = run.attempt
        beat = self._beater(message_id)
        sealed: list[SealedRecording] = []
        for audio in found.audio:
            with self._spool.open_audio(found, audio.fmt) as source:
                # The file was opened by path; make sure that path still belongs to this message.
                again = self._locate(record, found)
                if again is None or again.txt_path != found.txt_path:
                    raise SpoolChanged(f"message {message_id} moved while being opened")
                result = self._vault.seal(cast(BinaryIO, _Heartbeat(source, beat)),
                                          blob_name(message_id, audio.fmt, attempt), dek, key_id)
            self._fail.hit("seal.mid")
            sealed.append(dataclasses.replace(result, fmt=audio.fmt))
        for rec in sealed:
            beat()
            self._vault.verify(rec.blob_name, dek, key_id, rec.sha256)
        wrapped = self._keyring.wrap(dek, key_id)
        committed = self._store.mark_sealed(message_id, wrapped, sealed, attempt)
        if not committed:  # another worker won the race, or a newer run took over: ours are not on record
            for rec in sealed:
                self._vault.delete(rec.blob_name)
            if self._store.get(message_id).state == DISCOVERED:
                raise LeaseLost(f"message {message_id}: a newer custody run took over before this one committed")
            return "already", record, None
        self._fail.hit("seal.after_commit")
        log.info("sealed message %s (%d format(s))", message_id, len(sealed))
        if self.after_seal is not None:  # lifecycle: a quota failure never fails custody
            try:
                self.after_seal(message_id)
            except Exception as exc:
                log.error("vault quota check after sealing %s failed: %s", message_id, type(exc).__name__)
        return "sealed", dataclasses.replace(record, state=SEALED, recordings=tuple(sealed), wrapped_key=wrapped), found

    def strip(self, message_id: str) -> str:
        """Replace the plaintext recordings by placeholders. Returns the notification id."""
        record = self._store.get(message_id)
        with self._run(record):
            return self._strip(record, None)

    def _strip(self, record: MessageRecord, seen: SpoolMessage | None) -> str:
        message_id = record.id
        if record.state == STRIPPED:
            return self._store.mark_stripped(message_id)
        if record.state != SEALED:
            raise SpoolChanged(f"message {message_id} is {record.state}; it must be sealed before stripping")
        found = self._locate(record, seen)
        replaced = 0
        if found is not None:
            by_fmt = {r.fmt: r for r in record.recordings}
            for audio in found.audio:
                rec = by_fmt.get(audio.fmt)
                if rec is None:  # a format that appeared after sealing: leave it, seal never saw it
                    raise SpoolChanged(f"message {message_id} has an unsealed format {audio.fmt!r}")
                if self._spool.replace_with_placeholder(found, audio.fmt, rec.sha256) == "replaced":
                    replaced += 1
        self._fail.hit("strip.before_commit")
        notification_id = self._store.mark_stripped(message_id)
        if replaced and self._asterisk is not None:
            try:
                self._asterisk.refresh(record.mailbox)
            except Exception as exc:  # counts are unchanged by a placeholder; a missed refresh is harmless
                log.warning("VoicemailRefresh for %s failed: %s", record.mailbox, type(exc).__name__)
        log.info("stripped message %s (%d recording(s) replaced)", message_id, replaced)
        return notification_id
