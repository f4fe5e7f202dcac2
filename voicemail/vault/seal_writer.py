"""The writing half of the sealed blob format (v1, see ``sealed_stream``): chunks encrypted in batches.

The bytes on disk are exactly those of the format, chunk by chunk; only the work is arranged for speed:

* the source is read ``BATCH_BYTES`` at a time (a whole number of chunks), after the first batch into
  preallocated buffers (``readinto``), each chunk is encrypted with ``AESGCM.encrypt_into`` into a
  preallocated output buffer, and the batch goes out in one ``write``: no per-chunk allocation or copy;
* three threads share the work. ``hashlib`` releases the GIL while it hashes a buffer and so do file
  reads and writes; the AES binding (cryptography 50) holds it. So the SHA-256 of the plaintext (the
  costliest step, about 1.7 GB/s with SHA-NI) runs on a hashing ``Stage``, the writes on a writing
  ``Stage``, and the calling thread reads and encrypts: on two cores hashing overlaps encryption and
  file I/O instead of adding to them. The hash is the longest step, so the calling thread gives reading
  ahead priority over encrypting: up to ``RING`` input batches are read before the oldest is encrypted,
  and the hashing thread always finds its next batch waiting (no hand-off in the middle of the hash's
  critical path). A buffer is refilled once it is both hashed and encrypted; ``OUTPUTS`` output buffers
  go round between encryption and the writer;
* with ``start_writeback`` the kernel is asked after each batch to start writing the blob's full pages
  to disk (``sync_file_range``), so that the final fsync waits for the tail only, not for the whole
  file; with ``fsync`` the writing thread fsyncs the file right after the last batch, while the hashing
  thread still hashes the last batches read.

A message shorter than ``PIPELINE_MIN_BYTES`` (4 MiB, four minutes of 8 kHz audio), or whose length is
unknown (a pipe, an in-memory stream), is sealed on the calling thread, chunk by chunk (hash, encrypt,
write while the chunk is in the CPU cache), and so is every message when the process may use one CPU
only.
Memory: ``RING + OUTPUTS`` batch buffers (about 6 MiB), whatever the size of the message.
"""
from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voicemail.vault.private_files import start_writeback as _start_writeback
from voicemail.vault.stage import Stage

TAG_BYTES = 16
BATCH_BYTES = 1 << 20  # plaintext read, encrypted and written at a time (rounded down to whole chunks)
RING = 4  # input buffers being read, hashed or encrypted (reading runs up to RING batches ahead)
# Threads pay from a few batches on: below, starting them and filling their buffers costs more CPU than
# the overlap saves (a 3 MB message took 2x the CPU of the one-thread seal).
PIPELINE_MIN_BYTES = 4 * BATCH_BYTES
OUTPUTS = 2  # output buffers: one being encrypted into, one being written

Nonce = Callable[[int, bool], bytes]  # (chunk index, last chunk?) -> 12-byte nonce
_Frames = tuple[memoryview, int, int, bool]  # output buffer, bytes of frames in it, end offset, final batch?


def several_cpus() -> bool:
    """Whether this process may run on more than one CPU (the threads only pay when it can)."""
    try:
        return len(os.sched_getaffinity(0)) > 1
    except (AttributeError, OSError):  # no affinity on this platform
        return (os.cpu_count() or 1) > 1


def remaining_bytes(source: BinaryIO) -> int | None:
    """Bytes left in ``source`` if it is a regular file (None for pipes and in-memory streams)."""
    try:
        status = os.fstat(source.fileno())
        return status.st_size - source.tell() if stat.S_ISREG(status.st_mode) else None
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both of the last two
        return None


def read_full(stream: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes, or fewer only at end of file (sources such as pipes return short reads)."""
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def read_first(source: BinaryIO, size: int) -> memoryview:
    """Up to ``size`` bytes, fewer only at end of file. Unlike a preallocated buffer this costs only
    what was read: most messages are far smaller than a batch."""
    return memoryview(read_full(source, size))


def writable(views: list[memoryview], at: int, size: int) -> memoryview:
    """``views[at]`` if it is a buffer to read into, else a new one of ``size`` bytes in its place (the
    first batch was read into a bytes object, dropped here before its successor is allocated)."""
    if views[at].readonly or len(views[at]) != size:
        views[at] = memoryview(b"")
        views[at] = memoryview(bytearray(size))
    return views[at]


def read_into(source: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``source``; fewer bytes only at end of file (pipes return short reads)."""
    readinto: Callable[[Any], int | None] | None = getattr(source, "readinto", None)
    got = 0
    while got < len(view):
        if readinto is not None:
            n = readinto(view[got:]) or 0
        else:
            data = source.read(len(view) - got)
            n = len(data)
            view[got:got + n] = data
        if not n:
            break
        got += n
    return got


class _BatchSealer:
    """Seals batches of plaintext: ``seal`` encrypts a batch into a free output buffer and has the
    writing stage write it (``write`` and ``sync_file_range`` release the GIL and may block on the disk;
    encryption of the next batch goes on meanwhile); ``seal_hashing`` does a batch chunk by chunk on the
    calling thread, hash included. With ``fsync`` the sink is fsynced after the final batch, on the
    writing thread when there is one (while the hashing thread finishes)."""

    def __init__(self, sink: BinaryIO, aead: AESGCM, header: bytes, nonce: Nonce, chunk_size: int,
                 start_writeback: bool, fsync: bool) -> None:
        self._sink = sink
        self._aead = aead
        self._header = header
        self._nonce = nonce
        self._chunk = chunk_size
        self._fsync = fsync
        self._made = 0  # output buffers allocated so far (at most OUTPUTS)
        self._fd = sink.fileno() if start_writeback else None
        self._end = len(header)  # the caller wrote the header
        self.index = 0  # chunks sealed so far
        self.writer: Stage[_Frames] | None = None

    def _output(self, size: int) -> memoryview:
        """A buffer of at least ``size`` bytes that no write is using: a new one until there are
        ``OUTPUTS``, then the one of the oldest write (waiting for it; its error is raised here)."""
        assert self.writer is not None, "batches go out on the writing thread"
        if self._made < OUTPUTS:
            self._made += 1
            return memoryview(bytearray(size))
        out = self.writer.take()[0]
        return out if len(out) >= size else memoryview(bytearray(size))

    def seal(self, plain: memoryview, final: bool) -> None:
        """Encrypt and write ``plain`` (whole chunks, except possibly in the final batch)."""
        assert self.writer is not None, "batches go out on the writing thread"
        chunk = self._chunk
        count = max(1, -(-len(plain) // chunk))  # an empty message is one empty final chunk
        out = self._output(len(plain) + count * TAG_BYTES)
        encrypt_into, nonce, header = self._aead.encrypt_into, self._nonce, self._header
        at = 0
        for n in range(count):
            piece = plain[n * chunk:(n + 1) * chunk]
            end = at + len(piece) + TAG_BYTES
            encrypt_into(nonce(self.index, final and n == count - 1), piece, header, out[at:end])
            at = end
            self.index += 1
        self._end += at
        self.writer.put((out, at, self._end, final))

    def seal_hashing(self, plain: memoryview, final: bool, digest: Any) -> None:
        """Hash, encrypt and write ``plain`` one chunk at a time, while the chunk is in the CPU cache:
        on one thread this beats whole batches (a message of one batch is sealed this way)."""
        chunk = self._chunk
        count = max(1, -(-len(plain) // chunk))
        for n in range(count):
            piece = plain[n * chunk:(n + 1) * chunk]
            digest.update(piece)
            self._sink.write(self._aead.encrypt(self._nonce(self.index, final and n == count - 1), piece,
                                                self._header))
            self._end += len(piece) + TAG_BYTES
            self.index += 1
        self._after_write(self._end, final)

    def write(self, frames: _Frames) -> None:
        """The writing stage's work: one batch of frames out."""
        out, length, end, final = frames
        self._sink.write(out[:length])
        self._after_write(end, final)

    def _after_write(self, end: int, final: bool) -> None:
        if final:
            if self._fsync:
                self._sink.flush()
                os.fsync(self._sink.fileno())
        elif self._fd is not None:  # the final batch is the fsync's business
            self._sink.flush()
            _start_writeback(self._fd, end)


def _seal_inline(source: BinaryIO, sealer: _BatchSealer, digest: Any, first: memoryview,
                 span: int) -> tuple[str, int]:
    """Batch after batch of ``span`` bytes on the calling thread (``first`` is the first batch read; a
    shorter one is the whole message)."""
    count = size = len(first)
    views, current = [first, memoryview(b"")], 0
    del first
    while True:
        more = 0
        if count == span:  # read ahead: the last-chunk flag must be right when a chunk is sealed
            more = read_into(source, writable(views, 1 - current, span))
            size += more
        sealer.seal_hashing(views[current][:count], not more, digest)
        if not more:
            return digest.hexdigest(), size
        current, count = 1 - current, more


def _seal_threaded(source: BinaryIO, sealer: _BatchSealer, digest: Any, span: int) -> tuple[str, int]:
    """The ring of ``RING`` input buffers: the calling thread reads as far ahead as the ring allows
    (the hashing thread, the slowest step, must never wait for input), and in between encrypts the
    oldest batch read whose successor is known (the last-chunk flag) for the writing thread. A buffer
    is refilled once it is both encrypted and hashed."""
    ring = [memoryview(bytearray(span))] + [memoryview(b"")] * (RING - 1)  # allocated as they are needed
    counts = [read_into(source, ring[0])] + [0] * (RING - 1)
    read, sealed, hashed = 1, 0, 0  # batches read, encrypted (and handed to the writer), hashed
    eof = counts[0] < span
    size = counts[0]
    hasher: Stage[memoryview] = Stage(digest.update, "seal-sha256")
    try:
        sealer.writer = Stage(sealer.write, "seal-write")
        try:
            hasher.put(ring[0][:counts[0]])
            while True:
                while hasher.done():
                    hasher.take()
                    hashed += 1
                if not eof and read - sealed < RING and hashed > read - RING:
                    slot = read % RING
                    got = read_into(source, writable(ring, slot, span))
                    eof = got < span
                    if got:
                        counts[slot], size, read = got, size + got, read + 1
                        hasher.put(ring[slot][:got])
                elif sealed < read and (eof or read > sealed + 1):
                    slot = sealed % RING
                    sealer.seal(ring[slot][:counts[slot]], final=eof and sealed == read - 1)
                    sealed += 1
                elif sealed == read:  # at the end of the source, and everything encrypted
                    break
                else:  # the next buffer to fill is still being hashed
                    hasher.take()
                    hashed += 1
            hasher.take_all()
            sealer.writer.take_all()
        finally:
            sealer.writer.close()
    finally:
        hasher.close()
    return digest.hexdigest(), size


def seal_chunks(source: BinaryIO, sink: BinaryIO, aead: AESGCM, header: bytes, nonce: Nonce,
                chunk_size: int, *, start_writeback: bool = False, fsync: bool = False) -> tuple[str, int]:
    """Write every chunk of ``source`` to ``sink`` (after the header, already written); return the hex
    SHA-256 and the size of the plaintext. ``fsync``: the sink is flushed and fsynced once written."""
    per_batch = max(1, BATCH_BYTES // chunk_size)
    span = per_batch * chunk_size
    sealer = _BatchSealer(sink, aead, header, nonce, chunk_size, start_writeback, fsync)
    digest = hashlib.sha256()
    if not several_cpus() or (remaining_bytes(source) or 0) < PIPELINE_MIN_BYTES:
        return _seal_inline(source, sealer, digest, read_first(source, span), span)
    return _seal_threaded(source, sealer, digest, span)
