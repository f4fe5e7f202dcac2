"""Custody: seal (stream into the vault, verify, commit), then strip (placeholder in the spool).

The order is the guarantee: a crash at any point leaves a message either plaintext-and-pending or
sealed-and-committed, never stripped without a committed, verified sealed copy.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable

from voicemail.domain.errors import SpoolChanged
from voicemail.domain.models import SealedRecording, SpoolMessage
from voicemail.domain.ports import AsteriskControl, Keyring, MessageStore, Spool, Vault
from voicemail.domain.records import DISCOVERED, SEALED, STRIPPED, VANISHED, MessageRecord
from voicemail.failpoints import Failpoints
from voicemail.vault import new_data_key

log = logging.getLogger(__name__)

VANISH_RECHECK_SECONDS = 0.5


def blob_name(message_id: str, fmt: str, attempt: str) -> str:
    """A fresh name per seal attempt: two workers sealing the same message at once (a re-delivered
    task) never overwrite the blob that the committed row points to; the loser deletes its own."""
    return f"{message_id}.{fmt}.{attempt}"


class Custody:
    def __init__(self, spool: Spool, vault: Vault, keyring: Keyring, store: MessageStore,
                 asterisk: AsteriskControl | None = None, failpoints: Failpoints | None = None) -> None:
        self._spool = spool
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

    def take_custody(self, message_id: str) -> str | None:
        """Seal (when not yet sealed), then strip. Returns the notification id, or None when the
        message left the spool before it could be sealed. One database read for both steps."""
        record = self._store.get(message_id)
        seen: SpoolMessage | None = None
        if record.state == DISCOVERED:
            outcome, record, seen = self._seal(record)
            if outcome == "already":  # another worker sealed it meanwhile
                record = self._store.get(message_id)
        if record.state not in (SEALED, STRIPPED):
            return None
        return self._strip(record, seen)

    def seal(self, message_id: str) -> str:
        """Seal every format of the message. Returns "sealed", "already" or "vanished"."""
        return self._seal(self._store.get(message_id))[0]

    def _seal(self, record: MessageRecord) -> tuple[str, MessageRecord, SpoolMessage | None]:
        message_id = record.id
        if record.state != DISCOVERED:
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
        attempt = secrets.token_hex(4)
        sealed: list[SealedRecording] = []
        for audio in found.audio:
            with self._spool.open_audio(found, audio.fmt) as source:
                # The file was opened by path; make sure that path still belongs to this message.
                again = self._locate(record, found)
                if again is None or again.txt_path != found.txt_path:
                    raise SpoolChanged(f"message {message_id} moved while being opened")
                result = self._vault.seal(source, blob_name(message_id, audio.fmt, attempt), dek, key_id)
            self._fail.hit("seal.mid")
            sealed.append(dataclasses.replace(result, fmt=audio.fmt))
        for rec in sealed:
            self._vault.verify(rec.blob_name, dek, key_id, rec.sha256)
        wrapped = self._keyring.wrap(dek, key_id)
        committed = self._store.mark_sealed(message_id, wrapped, sealed)
        if not committed:  # another worker won the race; its blobs are the ones on record
            for rec in sealed:
                self._vault.delete(rec.blob_name)
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
        return self._strip(self._store.get(message_id), None)

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
