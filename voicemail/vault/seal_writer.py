"""The writing half of the sealed blob format (v1, see ``sealed_stream``): chunks encrypted in batches.

The bytes on disk are exactly those of the format, chunk by chunk; only the work is arranged for speed:

* the source is read ``BATCH_BYTES`` at a time (a whole number of chunks) into preallocated buffers
  (``readinto``), each chunk is encrypted with ``AESGCM.encrypt_into`` into a preallocated output
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

A message that fits in one batch (a minute of 8 kHz audio does) is sealed inline, without threads, and
so is every message when the process may use one CPU only.
Memory: ``RING + 2`` batch buffers (about 6 MiB), whatever the size of the message.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voicemail.vault.private_files import start_writeback as _start_writeback

TAG_BYTES = 16
BATCH_BYTES = 1 << 20  # plaintext read, encrypted and written at a time (rounded down to whole chunks)
RING = 4  # input buffers being hashed, encrypted or read (the reader may run two batches ahead)

Nonce = Callable[[int, bool], bytes]  # (chunk index, last chunk?) -> 12-byte nonce


def several_cpus() -> bool:
    """Whether this process may run on more than one CPU (the threads only pay when it can)."""
    try:
        return len(os.sched_getaffinity(0)) > 1
    except (AttributeError, OSError):  # no affinity on this platform
        return (os.cpu_count() or 1) > 1


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
    """Encrypts whole batches of plaintext into one of two output buffers and writes each out, on the
    ``writer`` thread if there is one (``write`` and ``sync_file_range`` release the GIL and may block
    on the disk; encryption of the next batch goes on meanwhile)."""

    def __init__(self, sink: BinaryIO, aead: AESGCM, header: bytes, nonce: Nonce, chunk_size: int,
                 per_batch: int, start_writeback: bool) -> None:
        self._sink = sink
        self._aead = aead
        self._header = header
        self._nonce = nonce
        self._chunk = chunk_size
        self._frames = per_batch * (chunk_size + TAG_BYTES)
        self._outs: list[memoryview] = []
        self._writes: list[Future[None] | None] = [None, None]
        self._fd = sink.fileno() if start_writeback else None
        self._end = len(header)  # the caller wrote the header
        self.index = 0  # chunks sealed so far
        self._batches = 0
        self.writer: ThreadPoolExecutor | None = None

    def seal(self, plain: memoryview, final: bool) -> None:
        """Encrypt and write ``plain`` (whole chunks, except possibly in the final batch)."""
        turn = self._batches % 2 if self.writer is not None else 0
        self._batches += 1
        pending = self._writes[turn]
        if pending is not None:
            pending.result()  # the buffer was written out (or its error is raised here)
        while len(self._outs) <= turn:
            self._outs.append(memoryview(bytearray(self._frames)))
        out, chunk = self._outs[turn], self._chunk
        count = max(1, -(-len(plain) // chunk))  # an empty message is one empty final chunk
        at = 0
        for n in range(count):
            piece = plain[n * chunk:(n + 1) * chunk]
            end = at + len(piece) + TAG_BYTES
            self._aead.encrypt_into(self._nonce(self.index, final and n == count - 1), piece, self._header,
                                    out[at:end])
            at = end
            self.index += 1
        self._end += at
        if self.writer is None:
            self._write(out[:at], self._end)
        else:
            self._writes[turn] = self.writer.submit(self._write, out[:at], self._end)

    def _write(self, frames: memoryview, end: int) -> None:
        self._sink.write(frames)
        if self._fd is not None:
            self._sink.flush()
            _start_writeback(self._fd, end)

    def finish(self) -> None:
        """Wait until every batch is written; raise the first write error."""
        for pending in self._writes:
            if pending is not None:
                pending.result()


def _seal_inline(source: BinaryIO, sealer: _BatchSealer, digest: Any, first: memoryview,
                 count: int) -> tuple[str, int]:
    """Batch after batch on the calling thread (``first`` holds the first ``count`` bytes read)."""
    span, size = len(first), count
    current, spare = first, memoryview(bytearray(0))
    while True:
        more = 0
        if count == span:  # read ahead: the last-chunk flag must be right when a chunk is sealed
            spare = spare if len(spare) else memoryview(bytearray(span))
            more = read_into(source, spare)
            size += more
        digest.update(current[:count])
        sealer.seal(current[:count], final=not more)
        if not more:
            return digest.hexdigest(), size
        current, spare, count = spare, current, more


def seal_chunks(source: BinaryIO, sink: BinaryIO, aead: AESGCM, header: bytes, nonce: Nonce,
                chunk_size: int, *, start_writeback: bool = False) -> tuple[str, int]:
    """Write every chunk of ``source`` to ``sink`` (after the header, already written); return the hex
    SHA-256 and the size of the plaintext."""
    per_batch = max(1, BATCH_BYTES // chunk_size)
    span = per_batch * chunk_size
    sealer = _BatchSealer(sink, aead, header, nonce, chunk_size, per_batch, start_writeback)
    digest = hashlib.sha256()
    views = [memoryview(bytearray(span))]
    size = read_into(source, views[0])
    if size < span or not several_cpus():  # one batch, or nothing to overlap with: no threads
        return _seal_inline(source, sealer, digest, views[0], size)
    views += [memoryview(bytearray(span)) for _ in range(RING - 1)]
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
                more = read_into(source, views[following])
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
