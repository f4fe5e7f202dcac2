"""The two file steps of batched custody, shared by `voicemail import` and the live batch path.

Both leave durability to the caller, once per batch: ``seal_unsynced`` writes and verifies a message's
blobs without fsync (the caller runs ``vault.sync()`` before any row points to them), ``strip_unsynced``
swaps placeholders in without fsync (the caller runs ``spool.sync()`` before the strips are recorded).
``durable=True`` fsyncs each file and folder instead (a small batch: a sync of the whole file system
also flushes whatever else is written on it, which costs more than a few fsyncs on a busy host).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Collection, Iterable

from voicemail.domain.errors import SpoolChanged
from voicemail.domain.models import MailboxRef, SealedRecording, SpoolMessage, WrappedKey
from voicemail.domain.ports import Keyring
from voicemail.spool import FileSpool
from voicemail.vault import FileVault, new_data_key

log = logging.getLogger(__name__)


def seal_unsynced(spool: FileSpool, vault: FileVault, keyring: Keyring, message: SpoolMessage, message_id: str,
                  attempt: str, after_blob: Callable[[], None] | None = None, *, durable: bool = False,
                  ) -> tuple[WrappedKey, tuple[SealedRecording, ...]]:
    """Seal every format of ``message`` under a fresh data key (blob names ``<id>.<fmt>.<attempt>``), verify
    each blob by decrypting it, and wrap the key. A failure removes the blobs written so far and raises."""
    dek = new_data_key()
    key_id = message_id.encode()
    sealed: list[SealedRecording] = []
    try:
        for audio in message.audio:
            with spool.open_audio(message, audio.fmt) as source:
                result = vault.seal(source, f"{message_id}.{audio.fmt}.{attempt}", dek, key_id, durable=durable)
            sealed.append(dataclasses.replace(result, fmt=audio.fmt))
            if after_blob is not None:
                after_blob()
        for rec in sealed:
            vault.verify(rec.blob_name, dek, key_id, rec.sha256)
        return keyring.wrap(dek, key_id), tuple(sealed)
    except Exception:
        for rec in sealed:
            with contextlib.suppress(Exception):  # an orphan left here is removed by the vault GC
                vault.delete(rec.blob_name)
        raise


def strip_unsynced(spool: FileSpool, message: SpoolMessage, hashes: dict[str, str], *, durable: bool = False,
                   swaps: Collection[str] | None = None) -> int:
    """Replace each format of ``message`` by its placeholder if it still hashes to its sealed SHA-256
    (``hashes``: fmt -> SHA-256). Returns how many were replaced now. SpoolChanged when a format was never
    sealed or something else lies there now. ``swaps``: the swap files of the message's folder, listed once
    for the batch (``FileSpool.swap_files``; None: each strip lists the folder)."""
    replaced = 0
    for audio in message.audio:
        expected = hashes.get(audio.fmt)
        if expected is None:  # a format that appeared after sealing: leave it, seal never saw it
            raise SpoolChanged(f"an unsealed format {audio.fmt!r} lies beside the sealed ones")
        if spool.replace_with_placeholder(message, audio.fmt, expected, durable=durable, swaps=swaps) == "replaced":
            replaced += 1
    return replaced


def swap_listings(spool: FileSpool, messages: Iterable[SpoolMessage]) -> dict[tuple[MailboxRef, str], frozenset[str]]:
    """The swap files of each folder the messages lie in, one listing per folder, for ``strip_unsynced``
    (``swaps``). A folder that cannot be listed is left out: each strip there lists it itself."""
    out: dict[tuple[MailboxRef, str], frozenset[str]] = {}
    for folder in {(m.mailbox, m.folder) for m in messages}:
        try:
            out[folder] = spool.swap_files(*folder)
        except Exception as exc:
            log.debug("listing the swap files of %s/%s failed (%s)", folder[0], folder[1], type(exc).__name__)
    return out
