"""Export one sealed recording to a file, streaming, bit-identical to what Asterisk wrote."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from voicemail.domain.errors import IntegrityError, InvalidInput, NotFound
from voicemail.domain.ports import Keyring, Vault
from voicemail.domain.records import MessageRecord


def export_recording(vault: Vault, keyring: Keyring, record: MessageRecord, output: Path,
                     fmt: str | None = None) -> tuple[int, str]:
    """Write the plaintext to ``output`` (created 0600, never overwritten). Returns (bytes, sha256)."""
    if record.wrapped_key is None or not record.recordings:
        raise NotFound(f"message {record.msg_id} is not sealed yet")
    by_fmt = {r.fmt: r for r in record.recordings}
    chosen = by_fmt.get(fmt) if fmt else (by_fmt.get("wav") or record.recordings[0])
    if chosen is None:
        raise InvalidInput(f"message has no {fmt!r} recording (has: {', '.join(sorted(by_fmt))})")
    if output.exists() or output.is_symlink():
        raise InvalidInput(f"{output} already exists; choose a new file name")
    key_id = record.id.encode()
    dek = keyring.unwrap(record.wrapped_key, key_id)
    digest = hashlib.sha256()
    written = 0
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as sink:
            for chunk in vault.open(chosen.blob_name, dek, key_id):
                sink.write(chunk)
                digest.update(chunk)
                written += len(chunk)
            sink.flush()
            os.fsync(sink.fileno())
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != chosen.sha256:
        output.unlink(missing_ok=True)
        raise IntegrityError(f"exported bytes of message {record.msg_id} do not match the ingest hash")
    return written, digest.hexdigest()
