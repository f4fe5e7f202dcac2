"""FileKeyring: a private local key file whose KEKs wrap data keys bound to their message."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from voicemail.domain.errors import IntegrityError, InvalidInput, KeyringError
from voicemail.domain.models import WrappedKey
from voicemail.domain.ports import Keyring
from voicemail.vault import FileKeyring, new_data_key

MSG = b"1795978545-0000002a"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "keyring.json"


@pytest.fixture
def keyring(path: Path) -> FileKeyring:
    return FileKeyring.create(path)


def stored_keys(path: Path) -> dict[str, str]:
    doc = json.loads(path.read_text())
    keys: dict[str, str] = doc["keys"]
    return keys


def test_create_writes_a_private_file_with_one_current_256_bit_key(keyring: FileKeyring, path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    keys = stored_keys(path)
    assert list(keys) == [keyring.current_kek_id()]
    assert len(base64.b64decode(keys[keyring.current_kek_id()])) == 32
    assert [p.name for p in path.parent.iterdir()] == ["keyring.json"]  # no temp file left


def test_create_refuses_to_overwrite_an_existing_keyring(keyring: FileKeyring, path: Path) -> None:
    before = path.read_bytes()
    with pytest.raises(KeyringError, match="already exists"):
        FileKeyring.create(path)
    assert path.read_bytes() == before


def test_a_loaded_keyring_unwraps_what_the_creator_wrapped(keyring: FileKeyring, path: Path) -> None:
    dek = new_data_key()
    wrapped = keyring.wrap(dek, MSG)
    loaded = FileKeyring(path)
    assert loaded.current_kek_id() == keyring.current_kek_id() == wrapped.kek_id
    assert loaded.unwrap(wrapped, MSG) == dek


def test_wrapping_twice_gives_different_blobs(keyring: FileKeyring) -> None:
    dek = new_data_key()
    first, second = keyring.wrap(dek, MSG), keyring.wrap(dek, MSG)
    assert first.blob != second.blob
    assert dek not in first.blob
    assert keyring.unwrap(first, MSG) == keyring.unwrap(second, MSG) == dek


def test_a_wrapped_key_moved_to_another_message_fails_to_unwrap(keyring: FileKeyring) -> None:
    wrapped = keyring.wrap(new_data_key(), MSG)
    with pytest.raises(IntegrityError, match="another message"):
        keyring.unwrap(wrapped, b"1795978545-0000002b")


def test_an_edited_wrapped_key_fails_to_unwrap(keyring: FileKeyring) -> None:
    wrapped = keyring.wrap(new_data_key(), MSG)
    for position in range(len(wrapped.blob)):
        edited = bytearray(wrapped.blob)
        edited[position] ^= 0x01
        with pytest.raises(IntegrityError):
            keyring.unwrap(replace(wrapped, blob=bytes(edited)), MSG)
    with pytest.raises(IntegrityError, match="malformed"):
        keyring.unwrap(replace(wrapped, blob=wrapped.blob[:-1]), MSG)


def test_an_unknown_kek_id_is_a_keyring_error(keyring: FileKeyring, path: Path) -> None:
    wrapped = keyring.wrap(new_data_key(), MSG)
    with pytest.raises(KeyringError, match=re.escape(str(path))):
        keyring.unwrap(replace(wrapped, kek_id="kek-gone"), MSG)


@pytest.mark.parametrize(("dek", "context"), [(b"short", MSG), (b"k" * 33, MSG), (b"k" * 32, b"")])
def test_wrap_refuses_bad_keys_and_empty_contexts(keyring: FileKeyring, dek: bytes, context: bytes) -> None:
    with pytest.raises(InvalidInput):
        keyring.wrap(dek, context)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o602])
def test_a_keyring_readable_or_writable_by_others_is_refused(keyring: FileKeyring, path: Path,
                                                             mode: int) -> None:
    os.chmod(path, mode)
    with pytest.raises(KeyringError, match=re.escape(str(path)) + ".*group/other"):
        FileKeyring(path)


def test_a_missing_keyring_is_refused_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(KeyringError, match=re.escape(str(missing))):
        FileKeyring(missing)


@pytest.mark.parametrize("content", [
    b"not json at all",
    b"{}",
    b'{"format": "voicemail-keyring", "version": 2, "current": "a", "keys": {}}',
    b'{"format": "voicemail-keyring", "version": 1, "current": "b", "keys": {"a": "AAAA"}}',
    b'{"format": "voicemail-keyring", "version": 1, "current": "a", "keys": {"a": "c2VjcmV0"}}',
    b'{"format": "voicemail-keyring", "version": 1, "current": "a", "keys": {"a": "!!not base64!!"}}',
])
def test_a_corrupt_keyring_is_refused_without_echoing_its_content(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "keyring.json"
    bad.write_bytes(content)
    os.chmod(bad, 0o600)
    with pytest.raises(KeyringError, match=re.escape(str(bad))) as caught:
        FileKeyring(bad)
    assert "c2VjcmV0" not in str(caught.value)
    assert "AAAA" not in str(caught.value)


def test_rotate_adds_a_new_current_key_and_keeps_the_old_for_unwrapping(keyring: FileKeyring,
                                                                        path: Path) -> None:
    old_id = keyring.current_kek_id()
    dek = new_data_key()
    old_wrapped = keyring.wrap(dek, MSG)
    new_id = keyring.rotate()
    assert new_id != old_id
    assert keyring.current_kek_id() == new_id
    assert set(keyring.kek_ids()) == {old_id, new_id} == set(stored_keys(path))
    assert keyring.wrap(dek, MSG).kek_id == new_id
    assert keyring.unwrap(old_wrapped, MSG) == dek
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert FileKeyring(path).current_kek_id() == new_id


def test_rewrap_moves_a_data_key_to_the_current_kek(keyring: FileKeyring) -> None:
    dek = new_data_key()
    old = keyring.wrap(dek, MSG)
    keyring.rotate()
    new = keyring.rewrap(old, MSG)
    assert new.kek_id == keyring.current_kek_id() != old.kek_id
    assert keyring.unwrap(new, MSG) == dek


def test_a_wrapped_key_relabelled_with_another_kek_id_fails(keyring: FileKeyring) -> None:
    wrapped = keyring.wrap(new_data_key(), MSG)
    keyring.rotate()
    with pytest.raises(IntegrityError):
        keyring.unwrap(WrappedKey(kek_id=keyring.current_kek_id(), blob=wrapped.blob), MSG)


def test_a_keyring_loaded_before_a_rotation_unwraps_keys_wrapped_after_it(keyring: FileKeyring,
                                                                          path: Path) -> None:
    stale = FileKeyring(path)
    keyring.rotate()
    dek = new_data_key()
    assert stale.unwrap(keyring.wrap(dek, MSG), MSG) == dek


def test_rotations_from_two_instances_keep_every_key(keyring: FileKeyring, path: Path) -> None:
    other = FileKeyring(path)
    first = keyring.rotate()
    second = other.rotate()  # other's in-memory view predates `first`; it must not drop it
    assert {first, second} <= set(stored_keys(path))
    assert len(stored_keys(path)) == 3


def test_repr_hides_key_material(keyring: FileKeyring, path: Path) -> None:
    keyring.rotate()
    text = repr(keyring) + str(keyring)
    for encoded in stored_keys(path).values():
        assert encoded not in text
        assert repr(base64.b64decode(encoded)) not in text
    assert "keys=2" in text


def test_file_keyring_satisfies_the_keyring_port(keyring: FileKeyring) -> None:
    port: Keyring = keyring
    assert port.unwrap(port.wrap(b"d" * 32, MSG), MSG) == b"d" * 32
