"""A sealed blob that was truncated, reordered, duplicated, extended, edited or opened with the wrong
key fails with IntegrityError, and no plaintext of a failing chunk is ever released."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from voicemail.domain.errors import IntegrityError
from voicemail.vault import FileVault, new_data_key
from voicemail.vault.blob_verifier import plaintext_sha256

KEY_ID = b"1795978545-0000002a"
CHUNK = 32
FRAME = CHUNK + 16
HEADER = 6 + 1 + 2 + len(KEY_ID) + 4 + 7
DATA = bytes((i * 7 + 3) % 256 for i in range(CHUNK * 4 + 10))  # 5 chunks


@pytest.fixture
def sealed(tmp_path: Path) -> tuple[FileVault, bytes, Path]:
    vault = FileVault(tmp_path / "vault", chunk_size=CHUNK)
    dek = new_data_key()
    vault.seal(io.BytesIO(DATA), "m", dek, KEY_ID)
    path = vault.path_for("m")
    assert path.stat().st_size == HEADER + 4 * FRAME + 10 + 16
    return vault, dek, path


def frames(blob: bytes) -> tuple[bytes, list[bytes]]:
    body = blob[HEADER:]
    return blob[:HEADER], [body[i:i + FRAME] for i in range(0, len(body), FRAME)]


def rewrite(path: Path, change: Callable[[bytes], bytes]) -> None:
    path.write_bytes(change(path.read_bytes()))


def read_all(vault: FileVault, dek: bytes, key_id: bytes = KEY_ID) -> bytes:
    return b"".join(vault.open("m", dek, key_id))


def test_untouched_blob_opens(sealed: tuple[FileVault, bytes, Path]) -> None:
    vault, dek, _ = sealed
    assert read_all(vault, dek) == DATA


def drop_last_frame(blob: bytes) -> bytes:
    head, parts = frames(blob)
    return head + b"".join(parts[:-1])


def cut_inside_last_frame(blob: bytes) -> bytes:
    return blob[:-5]


def cut_to_header(blob: bytes) -> bytes:
    return blob[:HEADER]


def cut_inside_header(blob: bytes) -> bytes:
    return blob[:HEADER - 3]


def cut_to_nothing(blob: bytes) -> bytes:
    return b""


def swap_first_two(blob: bytes) -> bytes:
    head, parts = frames(blob)
    return head + parts[1] + parts[0] + b"".join(parts[2:])


def swap_middle(blob: bytes) -> bytes:
    head, parts = frames(blob)
    return head + parts[0] + parts[2] + parts[1] + b"".join(parts[3:])


def duplicate_a_chunk(blob: bytes) -> bytes:
    head, parts = frames(blob)
    return head + parts[0] + parts[1] + parts[1] + b"".join(parts[2:])


def append_a_byte(blob: bytes) -> bytes:
    return blob + b"\x00"


def append_a_whole_frame(blob: bytes) -> bytes:
    _, parts = frames(blob)
    return blob + parts[0]


def flip_in_last_chunk(blob: bytes) -> bytes:
    edited = bytearray(blob)
    edited[-18] ^= 0x80
    return bytes(edited)


def flip_a_tag(blob: bytes) -> bytes:
    edited = bytearray(blob)
    edited[HEADER + FRAME - 1] ^= 0x01
    return bytes(edited)


TAMPERS = [drop_last_frame, cut_inside_last_frame, cut_to_header, cut_inside_header, cut_to_nothing,
           swap_first_two, swap_middle, duplicate_a_chunk, append_a_byte, append_a_whole_frame,
           flip_in_last_chunk, flip_a_tag]


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda f: f.__name__)
def test_tampered_blob_fails_to_open(sealed: tuple[FileVault, bytes, Path],
                                     tamper: Callable[[bytes], bytes]) -> None:
    vault, dek, path = sealed
    rewrite(path, tamper)
    with pytest.raises(IntegrityError, match=r"blob 'm'"):
        read_all(vault, dek)


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda f: f.__name__)
def test_the_verifiers_fast_path_finds_every_tampered_blob(sealed: tuple[FileVault, bytes, Path],
                                                           tamper: Callable[[bytes], bytes]) -> None:
    vault, dek, path = sealed
    rewrite(path, tamper)
    with path.open("rb") as handle:
        assert plaintext_sha256(handle, dek, KEY_ID) is None
    with pytest.raises(IntegrityError, match=r"blob 'm'"):
        vault.verify("m", dek, KEY_ID, hashlib.sha256(DATA).hexdigest())


def test_the_verifiers_fast_path_refuses_a_wrong_key_or_key_id(sealed: tuple[FileVault, bytes, Path]) -> None:
    _, dek, path = sealed
    with path.open("rb") as handle:
        assert plaintext_sha256(handle, dek, KEY_ID) == hashlib.sha256(DATA).hexdigest()
    with path.open("rb") as handle:
        assert plaintext_sha256(handle, new_data_key(), KEY_ID) is None
    with path.open("rb") as handle:
        assert plaintext_sha256(handle, dek, KEY_ID + b"x") is None


def test_dropping_the_final_chunk_is_reported_as_truncation(sealed: tuple[FileVault, bytes, Path]) -> None:
    vault, dek, path = sealed
    rewrite(path, drop_last_frame)
    with pytest.raises(IntegrityError, match="truncated after chunk 3"):
        read_all(vault, dek)


def test_data_after_a_full_final_chunk_is_reported_as_appended(tmp_path: Path) -> None:
    vault = FileVault(tmp_path, chunk_size=CHUNK)
    dek = new_data_key()
    vault.seal(io.BytesIO(b"z" * (CHUNK * 2)), "m", dek, KEY_ID)
    rewrite(vault.path_for("m"), lambda b: b + b"\x00" * 20)
    with pytest.raises(IntegrityError, match="bytes were appended"):
        read_all(vault, dek)


def test_every_single_header_byte_is_authenticated(sealed: tuple[FileVault, bytes, Path]) -> None:
    vault, dek, path = sealed
    original = path.read_bytes()
    for position in range(HEADER):
        edited = bytearray(original)
        edited[position] ^= 0x01
        path.write_bytes(bytes(edited))
        with pytest.raises(IntegrityError):
            read_all(vault, dek)


def test_wrong_data_key_fails_on_the_first_chunk(sealed: tuple[FileVault, bytes, Path]) -> None:
    vault, _, _ = sealed
    with pytest.raises(IntegrityError, match="wrong data key"):
        read_all(vault, new_data_key())


def test_wrong_key_id_fails_before_any_chunk(sealed: tuple[FileVault, bytes, Path]) -> None:
    vault, dek, _ = sealed
    with pytest.raises(IntegrityError, match="different key id"):
        vault.open("m", dek, b"1795978545-0000002b")


def test_a_blob_copied_onto_another_messages_name_fails(tmp_path: Path) -> None:
    vault = FileVault(tmp_path, chunk_size=CHUNK)
    dek = new_data_key()
    vault.seal(io.BytesIO(DATA), "first", dek, b"first-id")
    target = vault.path_for("second")
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(vault.path_for("first").read_bytes())
    with pytest.raises(IntegrityError, match="different key id"):
        vault.open("second", dek, b"second-id")


def test_chunks_before_an_edited_last_chunk_are_released_but_not_the_edited_one(
        sealed: tuple[FileVault, bytes, Path]) -> None:
    vault, dek, path = sealed
    rewrite(path, flip_in_last_chunk)
    released: list[bytes] = []
    reader = vault.open("m", dek, KEY_ID)
    with pytest.raises(IntegrityError, match="chunk 4"):
        for chunk in reader:
            released.append(chunk)
    assert b"".join(released) == DATA[:CHUNK * 4]


def test_nothing_is_released_when_the_first_chunk_is_edited(sealed: tuple[FileVault, bytes, Path]) -> None:
    vault, dek, path = sealed
    edited = bytearray(path.read_bytes())
    edited[HEADER] ^= 0x01
    path.write_bytes(bytes(edited))
    reader = vault.open("m", dek, KEY_ID)
    with pytest.raises(IntegrityError, match="chunk 0"):
        next(reader)


def test_a_failed_reader_keeps_failing_instead_of_looking_finished(
        sealed: tuple[FileVault, bytes, Path]) -> None:
    vault, dek, path = sealed
    rewrite(path, flip_in_last_chunk)
    reader = vault.open("m", dek, KEY_ID)
    with pytest.raises(IntegrityError):
        list(reader)
    with pytest.raises(IntegrityError):
        next(reader)


def test_an_empty_message_blob_without_its_chunk_fails(tmp_path: Path) -> None:
    vault = FileVault(tmp_path, chunk_size=CHUNK)
    dek = new_data_key()
    vault.seal(io.BytesIO(b""), "m", dek, KEY_ID)
    assert read_all(vault, dek) == b""
    rewrite(vault.path_for("m"), lambda b: b[:HEADER])
    with pytest.raises(IntegrityError, match="no chunks"):
        read_all(vault, dek)
