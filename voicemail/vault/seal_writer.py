"""The writing half of the sealed blob format (v1, see ``sealed_stream``): chunks encrypted in batches.

The bytes on disk are exactly those of the format, chunk by chunk; only the work is arranged for speed:

* the source is read ``BATCH_BYTES`` at a time (a whole number of chunks), after the first batch into
  preallocated buffers (``readinto``), each chunk is encrypted with ``AESGCM.encrypt_into`` into a preallocated output
  buffer, and the batch goes out in one ``write``: no per-chunk allocation or copy;
* three threads share the work. ``hashlib`` releases the GIL while it hashes a buffer and so do file
  reads and writes; the AES binding (cryptography 50) holds it. So the SHA-256 of the plaintext (the
  costliest step, about 1.7 GB/s with SHA-NI) runs on a hashing thread, the writes on a writing thread,
  and the calling thread reads and encrypts: on two cores hashing overlaps encryption and file I/O
  instead of adding to them. A ring of ``RING`` input buffers lets the reader run ahead of the hasher
  and keeps a buffer from being refilled before it was hashed; two output buffers alternate between
  encryption and the writer;
* with ``start_writeback`` the kernel is asked after each batch to start writing the blob's full pages
  to disk (``sync_file_range``), so the caller's final fsync waits for the tail only, not for the whole
  file. The fsync itself stays the caller's, and still decides durability.

A message shorter than ``PIPELINE_MIN_BYTES`` (4 MiB, four minutes of 8 kHz audio), or whose length is
unknown (a pipe, an in-memory stream), is sealed on the calling thread, chunk by chunk (hash, encrypt,
write while the chunk is in the CPU cache), and so is every message when the process may use one CPU
only.
Memory: ``RING + 2`` batch buffers (about 6 MiB), whatever the size of the message.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voicemail.vault.private_files import start_writeback as _start_writeback

TAG_BYTES = 16
BATCH_BYTES = 1 << 20  # plaintext read, encrypted and written at a time (rounded down to whole chunks)
RING = 4  # input buffers being hashed, encrypted or read (the reader may run two batches ahead)
# Threads pay from a few batches on: below, starting them and filling their buffers costs more CPU than
# the overlap saves (a 3 MB message took 2x the CPU of the one-thread seal).
PIPELINE_MIN_BYTES = 4 * BATCH_BYTES

Nonce = Callable[[int, bool], bytes]  # (chunk index, last chunk?) -> 12-byte nonce


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
    """Seals batches of plaintext: ``seal`` encrypts a batch into one of two output buffers and has the
    ``writer`` thread write it (``write`` and ``sync_file_range`` release the GIL and may block on the
    disk; encryption of the next batch goes on meanwhile); ``seal_hashing`` does a batch chunk by chunk
    on the calling thread, hash included."""

    def __init__(self, sink: BinaryIO, aead: AESGCM, header: bytes, nonce: Nonce, chunk_size: int,
                 start_writeback: bool) -> None:
        self._sink = sink
        self._aead = aead
        self._header = header
        self._nonce = nonce
        self._chunk = chunk_size
        self._outs: list[memoryview] = []
        self._writes: list[Future[None] | None] = [None, None]
        self._fd = sink.fileno() if start_writeback else None
        self._end = len(header)  # the caller wrote the header
        self.index = 0  # chunks sealed so far
        self._batches = 0
        self.writer: ThreadPoolExecutor | None = None

    def seal(self, plain: memoryview, final: bool) -> None:
        """Encrypt and write ``plain`` (whole chunks, except possibly in the final batch)."""
        assert self.writer is not None, "batches go out on the writing thread"
        turn = self._batches % 2
        self._batches += 1
        pending = self._writes[turn]
        if pending is not None:
            pending.result()  # the buffer was written out (or its error is raised here)
        chunk = self._chunk
        count = max(1, -(-len(plain) // chunk))  # an empty message is one empty final chunk
        while len(self._outs) <= turn:
            self._outs.append(memoryview(b""))
        if len(self._outs[turn]) < len(plain) + count * TAG_BYTES:  # a small message gets a small one
            self._outs[turn] = memoryview(bytearray(len(plain) + count * TAG_BYTES))
        out = self._outs[turn]
        at = 0
        for n in range(count):
            piece = plain[n * chunk:(n + 1) * chunk]
            end = at + len(piece) + TAG_BYTES
            self._aead.encrypt_into(self._nonce(self.index, final and n == count - 1), piece, self._header,
                                    out[at:end])
            at = end
            self.index += 1
        self._end += at
        self._writes[turn] = self.writer.submit(self._write, out[:at], self._end, final)

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
        self._hint_writeback(self._end, final)

    def _write(self, frames: memoryview, end: int, final: bool) -> None:
        self._sink.write(frames)
        self._hint_writeback(end, final)

    def _hint_writeback(self, end: int, final: bool) -> None:
        if self._fd is not None and not final:  # the final batch is the caller's fsync's business
            self._sink.flush()
            _start_writeback(self._fd, end)

    def finish(self) -> None:
        """Wait until every batch is written; raise the first write error."""
        for pending in self._writes:
            if pending is not None:
                pending.result()


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


def seal_chunks(source: BinaryIO, sink: BinaryIO, aead: AESGCM, header: bytes, nonce: Nonce,
                chunk_size: int, *, start_writeback: bool = False) -> tuple[str, int]:
    """Write every chunk of ``source`` to ``sink`` (after the header, already written); return the hex
    SHA-256 and the size of the plaintext."""
    per_batch = max(1, BATCH_BYTES // chunk_size)
    span = per_batch * chunk_size
    sealer = _BatchSealer(sink, aead, header, nonce, chunk_size, start_writeback)
    digest = hashlib.sha256()
    if not several_cpus() or (remaining_bytes(source) or 0) < PIPELINE_MIN_BYTES:
        return _seal_inline(source, sealer, digest, read_first(source, span), span)
    views = [read_first(source, span)] + [memoryview(b"")] * (RING - 1)  # allocated as they are needed
    size = len(views[0])
    hashed: list[Future[None] | None] = [None] * RING
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seal-sha256") as hasher, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="seal-write") as writer:
        sealer.writer = writer
        current, count = 0, size
        hashed[0] = hasher.submit(digest.update, views[0][:count])
        while True:
            following = (current + 1) % RING
            more = 0
            if count == span:  # read ahead: the last-chunk flag must be right when a chunk is sealed
                waiting = hashed[following]
                if waiting is not None:
                    waiting.result()  # that buffer is hashed before it is refilled
                more = read_into(source, writable(views, following, span))
                if more:
                    hashed[following] = hasher.submit(digest.update, views[following][:more])
                    size += more
            sealer.seal(views[current][:count], final=not more)
            if not more:
                break
            current, count = following, more
        sealer.finish()
        for job in hashed:
            if job is not None:
                job.result()
    return digest.hexdigest(), size
