"""Random-access decryption of sealed blobs: any range equals the plaintext slice, only authenticated
bytes come out, and a tampered or truncated blob is refused."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest

from voicemail.domain.errors import IntegrityError, InvalidInput, NotFound
from voicemail.vault.range_reader import RangeReader
from voicemail.vault.sealed_stream import TAG_BYTES, new_data_key, seal_stream

KEY_ID = b"message-1"


def seal(tmp_path: Path, plain: bytes, chunk: int) -> tuple[Path, bytes]:
    dek = new_data_key()
    sink = io.BytesIO()
    seal_stream(io.BytesIO(plain), sink, dek, KEY_ID, chunk)
    path = tmp_path / f"blob-{chunk}-{len(plain)}"
    path.write_bytes(sink.getvalue())
    return path, dek


@pytest.mark.parametrize(("size", "chunk"), [(1, 16), (16, 16), (17, 16), (160, 16), (1000, 64), (5000, 4096),
                                           (100, 65536), (200_000, 65536)])
def test_every_range_equals_the_plaintext_slice(tmp_path: Path, size: int, chunk: int) -> None:
    plain = os.urandom(size)
    path, dek = seal(tmp_path, plain, chunk)
    rng = random.Random(size)
    with RangeReader(path, dek, KEY_ID) as reader:
        assert reader.size == size
        spots = [(0, 0), (0, size - 1), (size - 1, size - 1)]
        spots += [(lo, hi) for lo, hi in (sorted((rng.randrange(size), rng.randrange(size))) for _ in range(40))]
        for start, end in spots:
            assert b"".join(reader.read(start, end)) == plain[start:end + 1], (start, end)


def test_a_range_decrypts_only_the_chunks_it_touches(tmp_path: Path) -> None:
    plain = os.urandom(64 * 100)
    path, dek = seal(tmp_path, plain, 64)
    with RangeReader(path, dek, KEY_ID) as reader:
        pieces = list(reader.read(64 * 50 + 10, 64 * 51 + 5))
    assert [len(p) for p in pieces] == [54, 6]


def test_empty_plaintext_has_size_zero_and_no_range(tmp_path: Path) -> None:
    path, dek = seal(tmp_path, b"", 16)
    with RangeReader(path, dek, KEY_ID) as reader:
        assert reader.size == 0
        assert reader.read_bytes(0, 10) == b""
        with pytest.raises(InvalidInput):
            list(reader.read(0, 0))


def test_range_outside_the_plaintext_is_refused(tmp_path: Path) -> None:
    path, dek = seal(tmp_path, b"x" * 100, 16)
    with RangeReader(path, dek, KEY_ID) as reader, pytest.raises(InvalidInput):
        list(reader.read(50, 100))


def test_an_edited_chunk_fails_when_reached(tmp_path: Path) -> None:
    plain = os.urandom(16 * 10)
    path, dek = seal(tmp_path, plain, 16)
    data = bytearray(path.read_bytes())
    header = len(data) - 10 * (16 + TAG_BYTES)
    data[header + 3 * (16 + TAG_BYTES) + 2] ^= 1  # chunk 3
    path.write_bytes(bytes(data))
    with RangeReader(path, dek, KEY_ID) as reader:
        assert b"".join(reader.read(0, 47)) == plain[:48]
        with pytest.raises(IntegrityError, match="chunk 3"):
            list(reader.read(40, 60))


def test_a_blob_truncated_at_a_chunk_boundary_is_refused_at_open(tmp_path: Path) -> None:
    path, dek = seal(tmp_path, os.urandom(16 * 10), 16)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 2 * (16 + TAG_BYTES)])
    with pytest.raises(IntegrityError):
        RangeReader(path, dek, KEY_ID)


def test_wrong_key_or_key_id_is_refused(tmp_path: Path) -> None:
    path, _dek = seal(tmp_path, b"secret audio" * 10, 16)
    with pytest.raises(IntegrityError):
        RangeReader(path, new_data_key(), KEY_ID)
    with pytest.raises(IntegrityError):
        RangeReader(path, new_data_key(), b"other-message")


def test_missing_blob_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        RangeReader(tmp_path / "nope", new_data_key(), KEY_ID)


def test_a_size_other_than_the_sealed_one_is_refused(tmp_path: Path) -> None:
    path, dek = seal(tmp_path, os.urandom(16 * 10), 16)
    with RangeReader(path, dek, KEY_ID, expected_size=160) as reader:
        assert reader.size == 160
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 2 * (16 + TAG_BYTES)])
    with pytest.raises(IntegrityError, match="sealed"):
        RangeReader(path, dek, KEY_ID, expected_size=160)
