"""FileVault: sealed blobs round-trip, are laid out privately, and never hold a whole message."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tracemalloc
from pathlib import Path

import pytest

from voicemail.domain.errors import IntegrityError, InvalidInput, NotFound
from voicemail.domain.ports import Vault
from voicemail.vault import DEFAULT_CHUNK_SIZE, FileVault, new_data_key
from voicemail.vault.seal_writer import BATCH_BYTES, RING

KEY_ID = b"1795978545-0000002a@1000@default"
C = DEFAULT_CHUNK_SIZE


def payload(size: int) -> bytes:
    return bytes((i * 31 + 7) % 251 for i in range(size))


def header_len(key_id: bytes = KEY_ID) -> int:
    return 6 + 1 + 2 + len(key_id) + 4 + 7


@pytest.fixture
def vault(tmp_path: Path) -> FileVault:
    return FileVault(tmp_path / "vault")


@pytest.mark.parametrize("size", [0, 1, C - 1, C, C + 1, 3 * C + 5])
def test_round_trip_restores_every_byte(vault: FileVault, size: int) -> None:
    data = payload(size)
    dek = new_data_key()
    sealed = vault.seal(io.BytesIO(data), "msg-a.wav", dek, KEY_ID)
    assert sealed.sha256 == hashlib.sha256(data).hexdigest()
    assert sealed.size == size
    assert sealed.fmt == ""
    assert sealed.blob_name == "msg-a.wav"
    assert b"".join(vault.open("msg-a.wav", dek, KEY_ID)) == data
    vault.verify("msg-a.wav", dek, KEY_ID, sealed.sha256)


@pytest.mark.parametrize(("size", "chunks"), [(0, 1), (1, 1), (C - 1, 1), (C, 1), (C + 1, 2), (3 * C + 5, 4)])
def test_blob_holds_one_tagged_chunk_per_chunk_of_plaintext(vault: FileVault, size: int, chunks: int) -> None:
    vault.seal(io.BytesIO(payload(size)), "m", new_data_key(), KEY_ID)
    assert vault.path_for("m").stat().st_size == header_len() + size + 16 * chunks


@pytest.mark.parametrize("chunk_size", [16, 100])
def test_small_chunk_sizes_round_trip_and_yield_chunk_sized_pieces(tmp_path: Path, chunk_size: int) -> None:
    vault = FileVault(tmp_path, chunk_size=chunk_size)
    data = payload(chunk_size * 5 + 3)
    dek = new_data_key()
    vault.seal(io.BytesIO(data), "m", dek, KEY_ID)
    pieces = list(vault.open("m", dek, KEY_ID))
    assert [len(p) for p in pieces] == [chunk_size] * 5 + [3]
    assert b"".join(pieces) == data


def test_plaintext_does_not_appear_in_the_blob(vault: FileVault) -> None:
    data = b"RIFF-this-is-a-secret-message-" * 100
    vault.seal(io.BytesIO(data), "m", new_data_key(), KEY_ID)
    assert b"secret-message" not in vault.path_for("m").read_bytes()


def test_same_plaintext_and_key_seal_to_different_blobs(vault: FileVault) -> None:
    dek = new_data_key()
    vault.seal(io.BytesIO(b"same"), "one", dek, KEY_ID)
    vault.seal(io.BytesIO(b"same"), "two", dek, KEY_ID)
    assert vault.path_for("one").read_bytes() != vault.path_for("two").read_bytes()


class TrickleSource(io.RawIOBase):
    """A real readable stream that returns at most a few bytes per read, like a pipe."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        piece = self._data[self._pos:self._pos + min(self._step, len(buffer))]
        buffer[:len(piece)] = piece
        self._pos += len(piece)
        return len(piece)


def test_short_reads_from_the_source_still_fill_whole_chunks(tmp_path: Path) -> None:
    vault = FileVault(tmp_path, chunk_size=64)
    data = payload(64 * 4 + 10)
    dek = new_data_key()
    sealed = vault.seal(TrickleSource(data), "m", dek, KEY_ID)  # type: ignore[arg-type]
    assert sealed.size == len(data)
    assert [len(p) for p in vault.open("m", dek, KEY_ID)] == [64, 64, 64, 64, 10]


def test_blobs_are_private_and_fanned_out(tmp_path: Path) -> None:
    root = tmp_path / "vault"
    vault = FileVault(root)
    vault.seal(io.BytesIO(b"x"), "1795978545-0000002a.wav", new_data_key(), KEY_ID)
    path = vault.path_for("1795978545-0000002a.wav")
    assert path.parent.parent == root
    assert len(path.parent.name) == 2 and all(c in "0123456789abcdef" for c in path.parent.name)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["1795978545-0000002a.wav"]  # no temp left


class FailingSource(io.RawIOBase):
    def __init__(self, good: bytes) -> None:
        self._good = good
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self._done:
            raise OSError("disk went away")
        self._done = True
        buffer[:len(self._good)] = self._good
        return len(self._good)


def test_failed_seal_leaves_the_existing_blob_and_no_temp_file(tmp_path: Path) -> None:
    vault = FileVault(tmp_path, chunk_size=16)
    dek = new_data_key()
    vault.seal(io.BytesIO(b"original"), "m", dek, KEY_ID)
    with pytest.raises(OSError, match="disk went away"):
        vault.seal(FailingSource(b"y" * 16), "m", new_data_key(), KEY_ID)  # type: ignore[arg-type]
    assert b"".join(vault.open("m", dek, KEY_ID)) == b"original"
    assert [p.name for p in vault.path_for("m").parent.iterdir()] == ["m"]


def test_sealing_a_name_again_replaces_the_blob(vault: FileVault) -> None:
    old, new = new_data_key(), new_data_key()
    vault.seal(io.BytesIO(b"first"), "m", old, KEY_ID)
    vault.seal(io.BytesIO(b"second"), "m", new, KEY_ID)
    assert b"".join(vault.open("m", new, KEY_ID)) == b"second"
    with pytest.raises(IntegrityError):
        b"".join(vault.open("m", old, KEY_ID))


def test_verify_detects_a_hash_that_does_not_match(vault: FileVault) -> None:
    dek = new_data_key()
    vault.seal(io.BytesIO(b"audio"), "m", dek, KEY_ID)
    with pytest.raises(IntegrityError, match="does not match"):
        vault.verify("m", dek, KEY_ID, hashlib.sha256(b"other audio").hexdigest())


def test_verify_accepts_an_upper_case_hash_and_rejects_a_malformed_one(vault: FileVault) -> None:
    dek = new_data_key()
    sealed = vault.seal(io.BytesIO(b"audio"), "m", dek, KEY_ID)
    vault.verify("m", dek, KEY_ID, sealed.sha256.upper())
    with pytest.raises(InvalidInput):
        vault.verify("m", dek, KEY_ID, "not-a-hash")


def test_verify_fails_on_a_tampered_blob(vault: FileVault) -> None:
    dek = new_data_key()
    sealed = vault.seal(io.BytesIO(payload(1000)), "m", dek, KEY_ID)
    path = vault.path_for("m")
    blob = bytearray(path.read_bytes())
    blob[-20] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(IntegrityError):
        vault.verify("m", dek, KEY_ID, sealed.sha256)


def test_delete_is_idempotent_and_exists_follows_it(vault: FileVault) -> None:
    vault.seal(io.BytesIO(b"x"), "m", new_data_key(), KEY_ID)
    assert vault.exists("m")
    vault.delete("m")
    assert not vault.exists("m")
    assert not vault.path_for("m").exists()
    vault.delete("m")
    vault.delete("never-existed")


def test_opening_a_missing_blob_raises_not_found(vault: FileVault) -> None:
    with pytest.raises(NotFound):
        vault.open("missing", new_data_key(), KEY_ID)


@pytest.mark.parametrize(
    "name", ["", "../etc", "a/b", "..", "a..b", ".hidden", "a b", "naïve", "x\x00", "a\\b", "x" * 201]
)
def test_bad_blob_names_are_rejected_before_touching_disk(tmp_path: Path, name: str) -> None:
    root = tmp_path / "vault"
    vault = FileVault(root)
    dek = new_data_key()
    with pytest.raises(InvalidInput):
        vault.seal(io.BytesIO(b"x"), name, dek, KEY_ID)
    with pytest.raises(InvalidInput):
        vault.open(name, dek, KEY_ID)
    with pytest.raises(InvalidInput):
        vault.verify(name, dek, KEY_ID, "0" * 64)
    with pytest.raises(InvalidInput):
        vault.delete(name)
    with pytest.raises(InvalidInput):
        vault.exists(name)
    assert not root.exists()


@pytest.mark.parametrize(("dek", "key_id"), [(b"short", KEY_ID), (b"k" * 32, b""), (b"k" * 32, "str-id")])
def test_bad_keys_and_key_ids_are_rejected(vault: FileVault, dek: bytes, key_id: bytes) -> None:
    with pytest.raises(InvalidInput):
        vault.seal(io.BytesIO(b"x"), "m", dek, key_id)
    assert not vault.exists("m")


@pytest.mark.parametrize("chunk_size", [0, 15, 4 * 1024 * 1024 + 1])
def test_implausible_chunk_sizes_are_refused(tmp_path: Path, chunk_size: int) -> None:
    with pytest.raises(InvalidInput):
        FileVault(tmp_path, chunk_size=chunk_size)


def test_file_vault_satisfies_the_vault_port(tmp_path: Path) -> None:
    vault: Vault = FileVault(tmp_path)
    assert "FileVault(root=" in repr(vault)


def write_sized_file(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        for _ in range(size // len(block)):
            out.write(block)


def test_sealing_and_opening_stream_instead_of_loading_the_message(tmp_path: Path) -> None:
    size = 24 << 20
    source = tmp_path / "big.wav"
    write_sized_file(source, size)
    vault = FileVault(tmp_path / "vault")
    dek = new_data_key()
    tracemalloc.start()
    try:
        with source.open("rb") as handle:
            sealed = vault.seal(handle, "big", dek, KEY_ID)
        _, seal_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        total = 0
        for chunk in vault.open("big", dek, KEY_ID):
            total += len(chunk)
        _, open_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sealed.size == total == size
    # the batch buffers (input ring and two outputs), whatever the size of the message, not 24 MiB
    assert seal_peak < (RING + 3) * BATCH_BYTES, seal_peak
    assert open_peak < 1 << 20, open_peak
