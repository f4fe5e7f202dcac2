"""The sealed blob format (v1): chunked AES-256-GCM with the STREAM construction, over file objects.

Layout of a blob::

    header  = b"VMSEAL" | version (u8 = 1) | key id length (u16 BE) | key id | chunk size (u32 BE)
              | nonce prefix (7 random bytes)
    chunk i = AES-256-GCM(dek, nonce_i, plaintext_i, aad=header)   (ciphertext || 16-byte tag)
    nonce_i = nonce prefix (7) | i (u32 BE) | last-chunk flag (0x01 on the final chunk, else 0x00)

Every chunk but the last holds exactly ``chunk size`` plaintext bytes, so chunk boundaries need no
framing. The last chunk holds 0..chunk size bytes; an empty plaintext is one empty final chunk. The
whole header is the associated data of every chunk and the counter and last flag are in the nonce,
so truncation, reordering, duplicated chunks, appended bytes, header edits and a wrong key all fail
authentication (``IntegrityError``). Opening authenticates each chunk before releasing its plaintext
and holds at most two chunks in memory, never the whole message.

No file names, no logging here: ``FileVault`` owns the files.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voicemail.domain.errors import IntegrityError, InvalidInput
from voicemail.vault.seal_writer import read_full, seal_chunks

MAGIC = b"VMSEAL"
VERSION = 1
DATA_KEY_BYTES = 32  # AES-256
NONCE_PREFIX_BYTES = 7
TAG_BYTES = 16
DEFAULT_CHUNK_SIZE = 64 * 1024
MIN_CHUNK_SIZE = 16
MAX_CHUNK_SIZE = 4 * 1024 * 1024  # also bounds what a (hostile) header can make us allocate
MAX_KEY_ID_BYTES = 1024
MAX_CHUNKS = 1 << 32  # the counter is 4 bytes

_FIXED_HEAD = struct.Struct(">6sBH")  # magic, version, key id length
_FIXED_TAIL = struct.Struct(">I7s")  # chunk size, nonce prefix
_NONCE_SUFFIX = struct.Struct(">IB")  # counter, last flag


def new_data_key() -> bytes:
    """A fresh random 256-bit data key (DEK) for one message."""
    return AESGCM.generate_key(bit_length=256)


@dataclass(frozen=True)
class SealResult:
    sha256: str  # hex digest of the plaintext
    size: int  # plaintext bytes


def check_data_key(dek: bytes) -> None:
    if not isinstance(dek, bytes | bytearray) or len(dek) != DATA_KEY_BYTES:
        raise InvalidInput(f"a data key must be {DATA_KEY_BYTES} bytes")


def check_key_id(key_id: bytes) -> None:
    if not isinstance(key_id, bytes) or not 1 <= len(key_id) <= MAX_KEY_ID_BYTES:
        raise InvalidInput(f"a key id must be 1..{MAX_KEY_ID_BYTES} bytes")


def check_chunk_size(chunk_size: int) -> None:
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise InvalidInput(f"chunk size must be {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE} bytes, not {chunk_size}")


def encode_header(key_id: bytes, chunk_size: int, nonce_prefix: bytes) -> bytes:
    check_key_id(key_id)
    check_chunk_size(chunk_size)
    if len(nonce_prefix) != NONCE_PREFIX_BYTES:
        raise InvalidInput(f"nonce prefix must be {NONCE_PREFIX_BYTES} bytes")
    return (_FIXED_HEAD.pack(MAGIC, VERSION, len(key_id)) + key_id
            + _FIXED_TAIL.pack(chunk_size, nonce_prefix))


def chunk_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= MAX_CHUNKS:
        raise InvalidInput("message too large for the sealed blob format (chunk counter overflow)")
    return prefix + _NONCE_SUFFIX.pack(index, 1 if last else 0)



class BadHeader(ValueError):
    """The header is not that of a v1 blob sealed under the expected key id (the text says why)."""


def read_header(stream: BinaryIO, key_id: bytes) -> tuple[bytes, bytes, int]:
    """Read and check the header at the start of ``stream``: (header bytes, nonce prefix, chunk size);
    BadHeader if it is not a v1 header for ``key_id``."""
    head = read_full(stream, _FIXED_HEAD.size)
    if len(head) < _FIXED_HEAD.size:
        raise BadHeader("truncated header (not a sealed blob)")
    magic, version, id_len = _FIXED_HEAD.unpack(head)
    if magic != MAGIC:
        raise BadHeader("bad magic (not a sealed blob, or the header was edited)")
    if version != VERSION:
        raise BadHeader(f"unsupported format version {version}")
    rest = read_full(stream, id_len + _FIXED_TAIL.size)
    if len(rest) < id_len + _FIXED_TAIL.size:
        raise BadHeader("truncated header")
    if rest[:id_len] != key_id:
        raise BadHeader("sealed under a different key id (wrong message, or the header was edited)")
    chunk_size, prefix = _FIXED_TAIL.unpack(rest[id_len:])
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise BadHeader("implausible chunk size in header (edited header)")
    return head + rest, prefix, int(chunk_size)


def seal_stream(source: BinaryIO, sink: BinaryIO, dek: bytes, key_id: bytes,
                chunk_size: int = DEFAULT_CHUNK_SIZE, *, start_writeback: bool = False,
                fsync: bool = False) -> SealResult:
    """Encrypt ``source`` (read batch by batch, see ``seal_writer``) into ``sink``; return the plaintext's
    SHA-256 and size. ``start_writeback`` (``sink`` must be a file) starts writing full pages to disk as
    batches go out, so that the final fsync is shorter; ``fsync`` flushes and fsyncs ``sink`` once the
    last batch is written (while the hash of the last batches is still being computed)."""
    check_data_key(dek)
    prefix = os.urandom(NONCE_PREFIX_BYTES)
    header = encode_header(key_id, chunk_size, prefix)
    sink.write(header)

    def nonce(index: int, last: bool) -> bytes:
        return chunk_nonce(prefix, index, last)

    sha256, size = seal_chunks(source, sink, AESGCM(bytes(dek)), header, nonce, chunk_size,
                               start_writeback=start_writeback, fsync=fsync)
    return SealResult(sha256=sha256, size=size)


class SealedReader(Iterator[bytes]):
    """Plaintext chunks of one sealed blob, each authenticated before it is returned.

    The header is read and checked on construction. The reader owns ``stream`` and closes it when the
    iteration ends, fails, or ``close()`` is called (it is also a context manager).
    """

    def __init__(self, stream: BinaryIO, dek: bytes, key_id: bytes, *, label: str = "sealed blob") -> None:
        self._stream: BinaryIO | None = stream
        self._label = label
        self._index = 0
        self._lookahead: bytes | None = None
        self._error: IntegrityError | None = None
        try:
            check_data_key(dek)
            check_key_id(key_id)
            self._header, self._prefix, self._frame_size = self._read_header(stream, key_id)
            self._aead = AESGCM(bytes(dek))
        except BaseException:
            self.close()
            raise

    def _fail(self, reason: str) -> IntegrityError:
        self.close()
        self._error = IntegrityError(f"{self._label}: {reason}")
        return self._error

    def _read_header(self, stream: BinaryIO, key_id: bytes) -> tuple[bytes, bytes, int]:
        try:
            header, prefix, chunk_size = read_header(stream, key_id)
        except BadHeader as exc:
            raise self._fail(str(exc)) from None
        return header, prefix, chunk_size + TAG_BYTES

    def __next__(self) -> bytes:
        stream = self._stream
        if stream is None:
            if self._error is not None:  # a failed blob stays failed; it never looks merely finished
                raise IntegrityError(str(self._error))
            raise StopIteration
        frame = self._lookahead if self._lookahead is not None else read_full(stream, self._frame_size)
        self._lookahead = None
        if not frame:
            raise self._fail("truncated: no final chunk" if self._index else "truncated: no chunks")
        if len(frame) < TAG_BYTES:
            raise self._fail(f"truncated inside chunk {self._index}")
        if len(frame) == self._frame_size:
            self._lookahead = read_full(stream, self._frame_size) or None
        last = self._lookahead is None
        try:
            plain = self._aead.decrypt(chunk_nonce(self._prefix, self._index, last), frame, self._header)
        except InvalidTag:
            raise self._fail(self._diagnose(frame, last)) from None
        except InvalidInput as exc:  # counter overflow: more chunks than a valid blob can hold
            raise self._fail(str(exc)) from None
        self._index += 1
        if last:
            self.close()
        return plain

    def _diagnose(self, frame: bytes, last: bool) -> str:
        """Say why chunk ``self._index`` failed (only runs on failure; never reveals plaintext)."""
        try:
            self._aead.decrypt(chunk_nonce(self._prefix, self._index, not last), frame, self._header)
        except InvalidTag:
            if self._index == 0:
                return "chunk 0 failed authentication: wrong data key, or the blob was edited"
            return (f"chunk {self._index} failed authentication: "
                    "the blob was edited, reordered, duplicated or truncated")
        if last:
            return f"truncated after chunk {self._index} (the chunks after it, up to the final one, are missing)"
        return f"unexpected data after the final chunk {self._index} (bytes were appended)"

    def close(self) -> None:
        stream, self._stream = self._stream, None
        self._lookahead = None
        if stream is not None:
            stream.close()

    def __enter__(self) -> SealedReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._stream is None else f"at chunk {self._index}"
        return f"<SealedReader {self._label} {state}>"
