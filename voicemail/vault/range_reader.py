"""Random access to the plaintext of a sealed blob (format v1, see ``sealed_stream``).

Every chunk but the last holds exactly ``chunk size`` plaintext bytes and every frame on disk is
``chunk size + 16`` bytes, so plaintext offset ``p`` lies in chunk ``p // chunk size`` at file offset
``header + index * frame``. A byte range therefore decrypts only the chunks it touches, one at a time
(memory: one chunk), each authenticated before any of it is released. The number of chunks follows
from the file size; the final-chunk flag in the nonce makes a blob truncated at a frame boundary fail
authentication, so the computed size can be trusted once the last chunk has authenticated: ``open``
checks it at once, or compares it with ``expected_size`` (the size recorded when the blob was sealed,
which saves decrypting the last chunk before the first byte; the last chunk is still authenticated
before any of it is released).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voicemail.domain.errors import IntegrityError, InvalidInput, NotFound
from voicemail.vault.sealed_stream import (
    DEFAULT_CHUNK_SIZE,
    MAGIC,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    NONCE_PREFIX_BYTES,
    TAG_BYTES,
    VERSION,
    check_data_key,
    check_key_id,
    chunk_nonce,
)

_HEAD = struct.Struct(">6sBH")
_TAIL = struct.Struct(">I7s")
assert _TAIL.size == 4 + NONCE_PREFIX_BYTES


class RangeReader:
    """``RangeReader(path, dek, key_id)``: ``size``, ``read(start, end)`` (inclusive) as an iterator of
    plaintext pieces, ``read_bytes`` for small reads; a context manager (closes the file)."""

    _fd: int | None = None

    def __init__(self, path: Path, dek: bytes, key_id: bytes, *, label: str = "sealed blob",
                 expected_size: int | None = None) -> None:
        check_data_key(dek)
        check_key_id(key_id)
        self._label = label
        try:
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise NotFound(f"{label}: no such blob") from None
        # No readahead for the first read (header + first frame, just over 64 KiB): the kernel would
        # otherwise round it up to a much larger read before the first byte can go out; normal
        # readahead is back once streaming goes on (``read``).
        _advise(self._fd, "POSIX_FADV_RANDOM")
        try:
            self._open(self._fd, key_id, bytes(dek), expected_size)
        except BaseException:
            self.close()
            raise

    def _open(self, fd: int, key_id: bytes, dek: bytes, expected_size: int | None) -> None:
        # one read for the header and (speculatively, for the usual chunk size) the first frame: the
        # first byte of a message costs one disk read, like a plain file's
        head_len = _HEAD.size + len(key_id) + _TAIL.size
        first = os.pread(fd, head_len + DEFAULT_CHUNK_SIZE + TAG_BYTES, 0)
        if len(first) < _HEAD.size:
            raise IntegrityError(f"{self._label}: truncated header (not a sealed blob)")
        magic, version, id_len = _HEAD.unpack_from(first)
        if magic != MAGIC or version != VERSION:
            raise IntegrityError(f"{self._label}: not a sealed blob of version {VERSION}")
        rest = first[_HEAD.size:]
        if id_len != len(key_id) or len(rest) < id_len + _TAIL.size or rest[:id_len] != key_id:
            raise IntegrityError(f"{self._label}: sealed under a different key id, or a truncated header")
        chunk_size, prefix = _TAIL.unpack_from(rest, id_len)
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise IntegrityError(f"{self._label}: implausible chunk size in header")
        self._header = first[:head_len]
        self._frame0: bytes | None = first[head_len:] if chunk_size == DEFAULT_CHUNK_SIZE else None
        self._prefix = prefix
        self._chunk = int(chunk_size)
        self._frame = self._chunk + TAG_BYTES
        body = os.fstat(fd).st_size - len(self._header)
        self._chunks = max(1, -(-body // self._frame))
        last_frame = body - (self._chunks - 1) * self._frame
        if body < TAG_BYTES or last_frame < TAG_BYTES:
            raise IntegrityError(f"{self._label}: truncated inside the final chunk")
        self._aead = AESGCM(dek)
        self.size = (self._chunks - 1) * self._chunk + last_frame - TAG_BYTES
        if expected_size is None:
            self._decrypt(self._chunks - 1)  # authenticates the final chunk: the size is the sealed size
        elif expected_size != self.size:
            raise IntegrityError(f"{self._label}: {self.size} bytes on disk, {expected_size} sealed (truncated?)")

    @property
    def chunk_size(self) -> int:
        return self._chunk

    def _decrypt(self, index: int) -> bytes:
        fd = self._fd
        if fd is None:
            raise InvalidInput(f"{self._label}: reader is closed")
        frame0, self._frame0 = self._frame0, None  # used once, then freed
        if index == 0 and frame0 is not None:
            frame = frame0
        else:
            frame = os.pread(fd, self._frame, len(self._header) + index * self._frame)
        last = index == self._chunks - 1
        try:
            return self._aead.decrypt(chunk_nonce(self._prefix, index, last), frame, self._header)
        except InvalidTag:
            raise IntegrityError(f"{self._label}: chunk {index} failed authentication "
                                 "(edited, reordered or truncated blob, or the wrong key)") from None

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """Plaintext bytes ``start..end`` (inclusive), chunk by chunk. Lazy: nothing is read before the
        first ``next``."""
        if start < 0 or end < start or end >= self.size:
            raise InvalidInput(f"range {start}-{end} outside 0-{self.size - 1}")
        first, last = start // self._chunk, end // self._chunk
        for index in range(first, last + 1):
            if index == first + 1 and self._fd is not None:
                _advise(self._fd, "POSIX_FADV_NORMAL")
            plain = self._decrypt(index)
            base = index * self._chunk
            lo = start - base if index == first else 0
            hi = end - base + 1 if index == last else len(plain)
            yield plain[lo:hi]

    def read_bytes(self, start: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``start`` (fewer at the end), for small reads such as headers."""
        if length <= 0 or start >= self.size:
            return b""
        return b"".join(self.read(start, min(self.size, start + length) - 1))

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> RangeReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _advise(fd: int, advice: str) -> None:
    flag = getattr(os, advice, None)
    if flag is not None and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, flag)
