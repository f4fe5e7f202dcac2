"""Sealing in batches on three threads writes exactly the v1 blob a chunk-by-chunk writer writes: blobs
sealed before open, every batch boundary is handled, and an edited or cut multi-batch blob is refused."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voicemail.domain.errors import IntegrityError, NotFound
from voicemail.vault import FileVault, blob_verifier, file_vault, new_data_key, seal_writer
from voicemail.vault.seal_writer import BATCH_BYTES, PIPELINE_MIN_BYTES, RING
from voicemail.vault.sealed_stream import DEFAULT_CHUNK_SIZE, chunk_nonce, encode_header, seal_stream
from voicemail.vault.stage import Stage

KEY_ID = b"1795978545-0000002a"
PREFIX = bytes.fromhex("0102030405060a")
C = DEFAULT_CHUNK_SIZE
B = BATCH_BYTES

# Sealed by the chunk-by-chunk writer this batched one replaced: chunk size 16, key id b"msg-1",
# data key bytes(range(32)), nonce prefix a1b2c3d4e5f607.
OLD_BLOB = bytes.fromhex(
    "564d5345414c0100056d73672d3100000010a1b2c3d4e5f6074afb7cf3e9323918cc2fc739d67bf14eeee867f994968527"
    "794cd0e567f424845db9125829a84829994f2101320100d67176e8757202de970b40dd911014bba5e3004f58412ea0f7d9"
    "cf6f78ed9cba5cad6422152cb20ff91a4ff5d7")
OLD_PLAIN = b"RIFF sealed before batched sealing existed.."


def payload(size: int) -> bytes:
    block = hashlib.sha256(str(size).encode()).digest() * 2048  # 64 KiB, different per size
    return (block * (size // len(block) + 1))[:size]


def chunk_by_chunk(data: bytes, dek: bytes, chunk: int) -> bytes:
    """The v1 format written the plain way: one chunk at a time, the last one flagged."""
    header = encode_header(KEY_ID, chunk, PREFIX)
    aead = AESGCM(dek)
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] or [b""]
    return header + b"".join(aead.encrypt(chunk_nonce(PREFIX, n, n == len(pieces) - 1), piece, header)
                             for n, piece in enumerate(pieces))


class Trickle(io.RawIOBase):
    """A pipe-like source: short reads of at most ``step`` bytes."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._at, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        piece = self._data[self._at:self._at + min(self._step, len(buffer))]
        buffer[:len(piece)] = piece
        self._at += len(piece)
        return len(piece)


class ReadOnly:
    """A source with ``read`` only (no ``readinto``)."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(min(size, 5000))


@pytest.fixture
def fixed_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("voicemail.vault.sealed_stream.os.urandom", lambda n: PREFIX[:n])


@pytest.fixture(params=["one-thread", "three-threads"])
def both_ways(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seal in-memory sources on the calling thread (as is) or as if they were long files on two CPUs."""
    if request.param == "three-threads":
        monkeypatch.setattr(seal_writer, "remaining_bytes", lambda source: 1 << 40)
        monkeypatch.setattr(seal_writer, "several_cpus", lambda: True)


SIZES = [0, 1, C - 1, C, C + 1, B - 1, B, B + 1, 2 * B, 2 * B + C, RING * B, RING * B + 1, RING * B + 3 * C + 5,
         (2 * RING + 1) * B - 7]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.usefixtures("fixed_prefix", "both_ways")
def test_batched_seal_writes_the_same_bytes_as_chunk_by_chunk(size: int) -> None:
    data, dek, sink = payload(size), new_data_key(), io.BytesIO()
    result = seal_stream(io.BytesIO(data), sink, dek, KEY_ID)
    assert sink.getvalue() == chunk_by_chunk(data, dek, C)
    assert (result.sha256, result.size) == (hashlib.sha256(data).hexdigest(), size)


@pytest.mark.parametrize("chunk", [1000, 3000, C - 1])
@pytest.mark.usefixtures("fixed_prefix", "both_ways")
def test_batched_seal_matches_for_chunk_sizes_that_do_not_divide_the_batch(chunk: int) -> None:
    per_batch = B // chunk * chunk
    data, dek, sink = payload(2 * per_batch + chunk // 2), new_data_key(), io.BytesIO()
    seal_stream(io.BytesIO(data), sink, dek, KEY_ID, chunk)
    assert sink.getvalue() == chunk_by_chunk(data, dek, chunk)


@pytest.mark.parametrize("source", [lambda d: Trickle(d, 7001), ReadOnly], ids=["short-reads", "read-only"])
@pytest.mark.usefixtures("fixed_prefix", "both_ways")
def test_sources_with_short_reads_or_without_readinto_seal_the_same(
        source: Callable[[bytes], Trickle | ReadOnly]) -> None:
    data, dek, sink = payload(2 * B + 12345), new_data_key(), io.BytesIO()
    # Deliberately not a full BinaryIO: a raw stream with short reads, or an object with only `read`.
    result = seal_stream(source(data), sink, dek, KEY_ID)  # type: ignore[arg-type]
    assert sink.getvalue() == chunk_by_chunk(data, dek, C)
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_a_blob_sealed_by_the_chunk_by_chunk_writer_still_opens(tmp_path: Path) -> None:
    vault = FileVault(tmp_path)
    path = vault.path_for("old")
    path.parent.mkdir(parents=True)
    path.write_bytes(OLD_BLOB)
    assert b"".join(vault.open("old", bytes(range(32)), b"msg-1")) == OLD_PLAIN
    vault.verify("old", bytes(range(32)), b"msg-1", hashlib.sha256(OLD_PLAIN).hexdigest())
    edited = bytearray(OLD_BLOB)
    edited[-1] ^= 1
    path.write_bytes(bytes(edited))
    with pytest.raises(IntegrityError):
        b"".join(vault.open("old", bytes(range(32)), b"msg-1"))


@pytest.fixture
def big_blob(tmp_path: Path) -> tuple[FileVault, bytes, bytes, Path]:
    vault = FileVault(tmp_path / "vault")
    data, dek = payload(3 * B + 777), new_data_key()
    with (tmp_path / "m.wav").open("wb") as out:
        out.write(data)
    with (tmp_path / "m.wav").open("rb") as source:
        vault.seal(source, "m", dek, KEY_ID)
    return vault, dek, data, vault.path_for("m")


HEADER = len(encode_header(KEY_ID, C, PREFIX))
FRAME = C + 16
PER_BATCH = B // C


def test_a_multi_batch_blob_opens_and_verifies(big_blob: tuple[FileVault, bytes, bytes, Path]) -> None:
    vault, dek, data, _ = big_blob
    assert b"".join(vault.open("m", dek, KEY_ID)) == data
    vault.verify("m", dek, KEY_ID, hashlib.sha256(data).hexdigest())


def test_an_edited_chunk_in_a_later_batch_is_refused_and_nothing_of_it_released(
        big_blob: tuple[FileVault, bytes, bytes, Path]) -> None:
    vault, dek, data, path = big_blob
    bad = PER_BATCH + 2  # a chunk of the second batch
    edited = bytearray(path.read_bytes())
    edited[HEADER + bad * FRAME + 100] ^= 0x04
    path.write_bytes(bytes(edited))
    released = bytearray()
    with pytest.raises(IntegrityError, match=f"chunk {bad} failed authentication"):
        for piece in vault.open("m", dek, KEY_ID):
            released += piece
    assert bytes(released) == data[:bad * C]


@pytest.mark.parametrize("batches", [1, 2, 3])
def test_a_blob_cut_at_a_batch_boundary_is_refused_as_truncated(
        big_blob: tuple[FileVault, bytes, bytes, Path], batches: int) -> None:
    vault, dek, _, path = big_blob
    blob = path.read_bytes()
    path.write_bytes(blob[:HEADER + batches * PER_BATCH * FRAME])
    with pytest.raises(IntegrityError, match="truncated"):
        b"".join(vault.open("m", dek, KEY_ID))
    with pytest.raises(IntegrityError):
        vault.verify("m", dek, KEY_ID, "0" * 64)


class FullDisk(io.BytesIO):
    """A sink whose volume fills up after ``room`` bytes."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self._room = room

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self._room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


@pytest.mark.parametrize("room", [100, B + 100, 3 * B])
@pytest.mark.usefixtures("both_ways")
def test_a_write_error_fails_the_seal(room: int) -> None:
    with pytest.raises(OSError) as caught:
        seal_stream(io.BytesIO(payload(4 * B)), FullDisk(room), new_data_key(), KEY_ID)
    assert caught.value.errno == errno.ENOSPC


class BrokenSource(io.RawIOBase):
    def __init__(self, fail_after: int) -> None:
        self._left = fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            raise OSError(errno.EIO, "Input/output error")
        n = min(len(buffer), self._left)
        buffer[:n] = b"\x01" * n
        self._left -= n
        return n


@pytest.mark.usefixtures("both_ways")
def test_a_read_error_mid_message_fails_the_seal_and_leaves_no_file(tmp_path: Path) -> None:
    vault = FileVault(tmp_path / "vault")
    with pytest.raises(OSError, match="Input/output error"):
        vault.seal(BrokenSource(2 * B + 5), "m", new_data_key(), KEY_ID)  # type: ignore[arg-type]
    assert not vault.exists("m")
    assert [name for _, name, _ in vault.listing()] == []


@pytest.mark.parametrize("size", [B - 1, B, 2 * B, 2 * B + C + 3])
@pytest.mark.usefixtures("fixed_prefix")
def test_a_process_bound_to_one_cpu_seals_the_same_bytes_without_threads(
        monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setattr(seal_writer, "several_cpus", lambda: False)
    monkeypatch.setattr(seal_writer, "remaining_bytes", lambda source: 1 << 40)
    monkeypatch.setattr(seal_writer, "Stage", None)  # any use of a thread would fail
    data, dek, sink = payload(size), new_data_key(), io.BytesIO()
    result = seal_stream(io.BytesIO(data), sink, dek, KEY_ID)
    assert sink.getvalue() == chunk_by_chunk(data, dek, C)
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_a_process_pinned_to_one_cpu_is_told_apart() -> None:
    pinned = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
              "from voicemail.vault.seal_writer import several_cpus; print(several_cpus())")
    done = subprocess.run([sys.executable, "-c", pinned], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


class CountingStage(Stage[Any]):
    started: ClassVar[list[str]] = []

    def __init__(self, work: Callable[[Any], object], name: str) -> None:
        CountingStage.started.append(name)
        super().__init__(work, name)


@pytest.mark.parametrize(("size", "threads"), [(PIPELINE_MIN_BYTES - 1, []),
                                               (PIPELINE_MIN_BYTES, ["seal-sha256", "seal-write"])])
def test_only_recordings_of_several_batches_are_sealed_on_threads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, threads: list[str]) -> None:
    monkeypatch.setattr(seal_writer, "several_cpus", lambda: True)
    monkeypatch.setattr(seal_writer, "Stage", CountingStage)
    monkeypatch.setattr(CountingStage, "started", [])
    data = payload(size)
    (tmp_path / "m.wav").write_bytes(data)
    vault, dek = FileVault(tmp_path / "vault"), new_data_key()
    with (tmp_path / "m.wav").open("rb") as source:
        sealed = vault.seal(source, "m", dek, KEY_ID)
    assert CountingStage.started == threads
    assert sealed.sha256 == hashlib.sha256(data).hexdigest()
    assert b"".join(vault.open("m", dek, KEY_ID)) == data


@pytest.fixture
def long_blob(tmp_path: Path) -> tuple[FileVault, bytes, bytes, Path]:
    """A blob long enough for the threaded verification (``PIPELINE_MIN_BYTES`` and more)."""
    vault = FileVault(tmp_path / "vault")
    data, dek = payload(PIPELINE_MIN_BYTES + 2 * B + 3 * C + 11), new_data_key()
    (tmp_path / "m.wav").write_bytes(data)
    with (tmp_path / "m.wav").open("rb") as source:
        vault.seal(source, "m", dek, KEY_ID)
    return vault, dek, data, vault.path_for("m")


@pytest.mark.parametrize("size", [0, 1, C, B, B + 1, RING * B, (RING + 2) * B + 5])
@pytest.mark.parametrize("chunk", [C, 3000, B + 5])
def test_the_threaded_verification_hashes_the_plaintext_of_any_blob(tmp_path: Path, size: int, chunk: int) -> None:
    data, dek = payload(size), new_data_key()
    vault = FileVault(tmp_path / "vault", chunk_size=chunk)
    vault.seal(io.BytesIO(data), "m", dek, KEY_ID)
    with vault.path_for("m").open("rb") as handle:
        assert blob_verifier.plaintext_sha256(handle, dek, KEY_ID) == hashlib.sha256(data).hexdigest()


def test_an_old_blob_is_hashed_by_the_threaded_verification(tmp_path: Path) -> None:
    path = tmp_path / "old"
    path.write_bytes(OLD_BLOB)
    with path.open("rb") as handle:
        digest = blob_verifier.plaintext_sha256(handle, bytes(range(32)), b"msg-1")
    assert digest == hashlib.sha256(OLD_PLAIN).hexdigest()


def test_a_long_blob_is_verified_on_two_threads(long_blob: tuple[FileVault, bytes, bytes, Path],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    vault, dek, data, _ = long_blob
    monkeypatch.setattr(file_vault, "several_cpus", lambda: True)
    monkeypatch.setattr(blob_verifier, "Stage", CountingStage)
    monkeypatch.setattr(CountingStage, "started", [])
    monkeypatch.setattr(FileVault, "open", None)  # the one-thread reader is only for failures
    vault.verify("m", dek, KEY_ID, hashlib.sha256(data).hexdigest())
    assert CountingStage.started == ["verify-sha256"]


def test_a_long_blob_with_another_hash_fails_verification(long_blob: tuple[FileVault, bytes, bytes, Path]) -> None:
    vault, dek, data, _ = long_blob
    with pytest.raises(IntegrityError, match="does not match the recorded hash"):
        vault.verify("m", dek, KEY_ID, hashlib.sha256(data + b"x").hexdigest())


def test_an_edited_chunk_of_a_long_blob_fails_verification_with_its_number(
        long_blob: tuple[FileVault, bytes, bytes, Path]) -> None:
    vault, dek, data, path = long_blob
    bad = 3 * PER_BATCH + 1
    edited = bytearray(path.read_bytes())
    edited[HEADER + bad * FRAME + 5] ^= 0x80
    path.write_bytes(bytes(edited))
    with pytest.raises(IntegrityError, match=f"chunk {bad} failed authentication"):
        vault.verify("m", dek, KEY_ID, hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize("change", ["cut at a batch", "cut in the last frame", "appended"])
def test_a_cut_or_extended_long_blob_fails_verification(long_blob: tuple[FileVault, bytes, bytes, Path],
                                                       change: str) -> None:
    vault, dek, data, path = long_blob
    blob = path.read_bytes()
    changed = {"cut at a batch": blob[:HEADER + 4 * PER_BATCH * FRAME], "cut in the last frame": blob[:-3],
               "appended": blob + b"\0" * 16}[change]
    path.write_bytes(changed)
    with path.open("rb") as handle:
        assert blob_verifier.plaintext_sha256(handle, dek, KEY_ID) is None
    with pytest.raises(IntegrityError, match=r"truncated|appended|failed authentication"):
        vault.verify("m", dek, KEY_ID, hashlib.sha256(data).hexdigest())


def test_a_missing_long_blob_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        FileVault(tmp_path).verify("gone", new_data_key(), KEY_ID, "0" * 64)


class Recorder:
    """Which of fsync (file or folder) and rename happen, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[str] = []
        fsync, replace = os.fsync, os.replace

        def recording_fsync(fd: int) -> None:
            self.events.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
            fsync(fd)

        def recording_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
            self.events.append("rename")
            replace(src, dst)

        monkeypatch.setattr(os, "fsync", recording_fsync)
        monkeypatch.setattr(os, "replace", recording_replace)


@pytest.mark.parametrize("size", [C, PIPELINE_MIN_BYTES + 5])
@pytest.mark.parametrize("durable", [True, False])
def test_a_durable_seal_fsyncs_the_blob_once_before_it_is_renamed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, durable: bool) -> None:
    monkeypatch.setattr(seal_writer, "several_cpus", lambda: True)
    vault, data = FileVault(tmp_path / "vault"), payload(size)
    vault.prepare()
    (tmp_path / "m.wav").write_bytes(data)
    recorder = Recorder(monkeypatch)
    with (tmp_path / "m.wav").open("rb") as source:
        vault.seal(source, "m", new_data_key(), KEY_ID, durable=durable)
    assert recorder.events == (["fsync file", "rename", "fsync folder"] if durable else ["rename"])
