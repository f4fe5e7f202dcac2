"""The SHA-256 of a sealed blob's plaintext, for checking a seal: decrypted on the calling thread, hashed
on another.

Custody verifies every blob right after sealing it: decrypt every chunk (which authenticates it) and
hash the plaintext. On one thread that costs the SHA-256 plus the decryption; here the calling thread
reads a batch of frames (``readinto``, one buffer), decrypts each frame with ``AESGCM.decrypt_into``
into one of ``RING`` plaintext buffers and hands the batch to a hashing ``Stage`` (``hashlib`` releases
the GIL), so on two cores the verification takes about as long as the hash alone.

This is the fast path only: any failure (a chunk that does not authenticate, a short or overlong blob,
a bad header) gives ``None``, and the caller reads the blob again with ``SealedReader``, whose errors say
what is wrong. Memory: one ciphertext batch and ``RING`` plaintext batches (about 5 MiB).
"""

from __future__ import annotations

import hashlib
import os
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voicemail.domain.errors import InvalidInput
from voicemail.vault.seal_writer import BATCH_BYTES, RING, read_into
from voicemail.vault.sealed_stream import TAG_BYTES, BadHeader, chunk_nonce, read_header
from voicemail.vault.stage import Stage


def plaintext_sha256(stream: BinaryIO, dek: bytes, key_id: bytes) -> str | None:
    """Hex SHA-256 of the plaintext of the blob in ``stream`` (a regular file at offset 0), or None if
    it does not open cleanly under ``dek`` and ``key_id``."""
    try:
        header, prefix, chunk_size = read_header(stream, key_id)
    except BadHeader:
        return None
    frame = chunk_size + TAG_BYTES
    body = os.fstat(stream.fileno()).st_size - len(header)
    chunks = max(1, -(-body // frame))
    if body < TAG_BYTES or body - (chunks - 1) * frame < TAG_BYTES:
        return None
    per_batch = max(1, BATCH_BYTES // chunk_size)
    sealed = memoryview(bytearray(per_batch * frame))
    plains: list[memoryview] = []
    aead = AESGCM(bytes(dek))
    digest = hashlib.sha256()
    hasher: Stage[memoryview] = Stage(digest.update, "verify-sha256")
    try:
        for first in range(0, chunks, per_batch):
            count = min(per_batch, chunks - first)
            want = min(count * frame, body - first * frame)
            if read_into(stream, sealed[:want]) != want:
                return None  # the blob shrank meanwhile
            if len(plains) < RING:
                plains.append(memoryview(bytearray(per_batch * chunk_size)))
                plain = plains[-1]
            else:
                plain = hasher.take()
            at = 0
            for n in range(count):
                index = first + n
                piece = sealed[n * frame:min((n + 1) * frame, want)]
                size = len(piece) - TAG_BYTES
                aead.decrypt_into(chunk_nonce(prefix, index, index == chunks - 1), piece, header,
                                  plain[at:at + size])
                at += size
            hasher.put(plain[:at] if at < len(plain) else plain)
        if stream.read(1):
            return None  # the blob grew meanwhile
        hasher.take_all()
    except (InvalidTag, InvalidInput):  # InvalidInput: more chunks than the counter can number
        return None
    finally:
        hasher.close()
    return digest.hexdigest()
