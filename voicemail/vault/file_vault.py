"""A vault of sealed blobs in a local folder (implements ``voicemail.domain.ports.Vault``).

Layout: ``<root>/<2 hex of SHA-256(name)>/<name>``; directories 0700, blobs 0600. A blob is written to
a temp file beside its final place, fsynced, atomically renamed over it, and the directory fsynced, so
a crash leaves either the old blob, the new blob, or nothing; never half a blob under the name.

Sealing the same name again replaces the blob atomically. The caller must therefore never re-seal a
name that a committed record (with its data key) already points to; give each seal attempt its own
name if attempts can race.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from voicemail.domain.errors import IntegrityError, InvalidInput, NotFound
from voicemail.domain.models import SealedRecording
from voicemail.vault.blob_verifier import plaintext_sha256
from voicemail.vault.private_files import (
    DIR_MODE,
    ensure_private_dir,
    fsync_directory,
    private_temp_file,
    publish_replace,
    sync_filesystem,
)
from voicemail.vault.seal_writer import PIPELINE_MIN_BYTES, several_cpus
from voicemail.vault.sealed_stream import (
    DEFAULT_CHUNK_SIZE,
    SealedReader,
    check_chunk_size,
    check_data_key,
    check_key_id,
    seal_stream,
)

# Letters, digits, '.', '_', '-'; never a path, never hidden (temp files start with '.'), no '..'.
_BLOB_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def check_blob_name(blob_name: str) -> str:
    if not isinstance(blob_name, str) or not _BLOB_NAME.match(blob_name) or ".." in blob_name:
        shown = blob_name[:40] if isinstance(blob_name, str) else type(blob_name).__name__
        raise InvalidInput(f"invalid blob name: {shown!r}")
    return blob_name


_FAN = re.compile(r"^[0-9a-f]{2}$")


class FileVault:
    """Sealed blobs at rest in ``root``. The caller owns the data key (one per message)."""

    def __init__(self, root: Path, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        check_chunk_size(chunk_size)
        self._root = Path(root)
        self._chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"FileVault(root={str(self._root)!r}, chunk_size={self._chunk_size})"

    @property
    def root(self) -> Path:
        return self._root

    @property
    def chunk_size(self) -> int:
        return self._chunk_size

    def path_for(self, blob_name: str) -> Path:
        """Where ``blob_name`` lives (whether or not it exists)."""
        check_blob_name(blob_name)
        fan = hashlib.sha256(blob_name.encode("ascii")).hexdigest()[:2]
        return self._root / fan / blob_name

    def seal(self, source: BinaryIO, blob_name: str, dek: bytes, key_id: bytes, *,
             durable: bool = True) -> SealedRecording:
        """Stream ``source`` into a sealed blob. ``fmt`` is left "" for the caller to fill in.

        ``durable=False`` skips the file's and the directory's fsync: the caller makes a whole batch
        durable at once with ``sync()`` before anything relies on the blob (the import does). A durable
        seal also starts the blob's writeback as it goes, so that the final fsync waits for the tail only."""
        final = self.path_for(blob_name)
        check_data_key(dek)
        check_key_id(key_id)
        ensure_private_dir(final.parent)
        with private_temp_file(final.parent, prefix=".seal-", fsync=False) as (sink, temp):  # the seal fsyncs
            result = seal_stream(source, sink, dek, key_id, self._chunk_size, start_writeback=durable,
                                 fsync=durable)
        publish_replace(temp, final, fsync=durable)
        return SealedRecording(fmt="", blob_name=blob_name, sha256=result.sha256, size=result.size)

    def prepare(self) -> None:
        """Create every fan folder now, with one fsync of the root, instead of one fsync each as blobs
        first land in them (a bulk import fills all 256 at once)."""
        ensure_private_dir(self._root)
        made = False
        for n in range(256):
            fan = self._root / f"{n:02x}"
            if not fan.is_dir():
                with contextlib.suppress(FileExistsError):
                    os.mkdir(fan, DIR_MODE)
                    os.chmod(fan, DIR_MODE)
                    made = True
        if made:
            fsync_directory(self._root)

    def sync(self) -> None:
        """Make every blob written so far durable, files and directory entries: one syncfs(2) of the
        vault's file system (os.sync where syncfs is unavailable)."""
        sync_filesystem(self._root)

    def open(self, blob_name: str, dek: bytes, key_id: bytes) -> SealedReader:
        """Plaintext chunks, each authenticated before it is yielded.

        Raises NotFound at once if the blob is missing and IntegrityError at once for a bad header or
        a different key id; a bad chunk raises IntegrityError when iteration reaches it. The reader is
        an ``Iterator[bytes]`` and a context manager: close it (or iterate to the end) to release the
        file.
        """
        path = self.path_for(blob_name)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise NotFound(f"no sealed blob named {blob_name!r}") from None
        return SealedReader(handle, dek, key_id, label=f"blob {blob_name!r}")

    def verify(self, blob_name: str, dek: bytes, key_id: bytes, expected_sha256: str) -> None:
        """Decrypt the stored blob fully; IntegrityError unless it authenticates and hashes as expected.

        A blob of ``PIPELINE_MIN_BYTES`` or more is hashed on a second thread while it is decrypted
        (``blob_verifier``); if that finds anything wrong, the blob is read again on one thread to say
        what."""
        expected = expected_sha256.lower() if isinstance(expected_sha256, str) else ""
        if not _SHA256_HEX.match(expected):
            raise InvalidInput("expected_sha256 must be 64 hex digits")
        path = self.path_for(blob_name)
        try:
            with path.open("rb") as handle:
                # a long blob on two CPUs: decrypted here, hashed on a thread (None: something is wrong)
                if several_cpus() and os.fstat(handle.fileno()).st_size >= PIPELINE_MIN_BYTES:
                    check_data_key(dek)
                    check_key_id(key_id)
                    if hmac.compare_digest(plaintext_sha256(handle, dek, key_id) or "", expected):
                        return
        except FileNotFoundError:
            raise NotFound(f"no sealed blob named {blob_name!r}") from None
        digest = hashlib.sha256()  # one thread, chunk by chunk; its errors say what is wrong
        with self.open(blob_name, dek, key_id) as reader:
            for chunk in reader:
                digest.update(chunk)
        if not hmac.compare_digest(digest.hexdigest(), expected):
            raise IntegrityError(f"blob {blob_name!r}: plaintext SHA-256 does not match the recorded hash")

    def delete(self, blob_name: str) -> None:
        """Remove the blob; deleting a missing blob is not an error."""
        path = self.path_for(blob_name)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        fsync_directory(path.parent)

    def exists(self, blob_name: str) -> bool:
        return self.path_for(blob_name).is_file()

    def listing(self) -> Iterator[tuple[str, str, float]]:
        """(fan folder, file name, mtime) of every file in the vault, temp files (".seal-…") included."""
        if not self._root.is_dir():
            return
        for fan in sorted(self._root.iterdir()):
            if not _FAN.match(fan.name) or not fan.is_dir() or fan.is_symlink():
                continue
            for entry in sorted(fan.iterdir()):
                try:
                    yield fan.name, entry.name, entry.lstat().st_mtime
                except FileNotFoundError:
                    continue

    def delete_leftover(self, fan: str, name: str) -> None:
        """Remove a file found by ``listing`` that is no blob on record (a temp file or an orphan)."""
        if not _FAN.match(fan) or "/" in name or name in ("", ".", ".."):
            raise InvalidInput("invalid vault file name")
        path = self._root / fan / name
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            fsync_directory(path.parent)
