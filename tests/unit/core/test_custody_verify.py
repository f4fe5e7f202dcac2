"""Sealing reads the stored blob back before the commit: a vault that stores other bytes than it was
given (a bad disk, a truncating network share) fails the seal, and nothing is committed or stripped."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import pytest

from tests.unit.core.test_custody import World
from voicemail.domain.errors import IntegrityError
from voicemail.domain.models import SealedRecording
from voicemail.domain.records import DISCOVERED
from voicemail.services.custody import Custody
from voicemail.spool import is_placeholder_bytes
from voicemail.vault import FileVault


class CorruptingVault(FileVault):
    """Stores the sealed blob, then flips one byte of it, as failing storage would."""

    def seal(self, source: BinaryIO, blob_name: str, dek: bytes, key_id: bytes, *,
             durable: bool = True) -> SealedRecording:
        result = super().seal(source, blob_name, dek, key_id, durable=durable)
        path = self.path_for(blob_name)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        return result


def test_a_blob_that_does_not_read_back_is_never_committed_nor_stripped(tmp_path: Path) -> None:
    world = World(tmp_path)
    custody = Custody(world.spool, CorruptingVault(tmp_path / "vault"), world.keyring, world.store)
    world.discovery.reconcile()
    mid = world.enqueued[0]
    with pytest.raises(IntegrityError):
        custody.take_custody(mid)
    record = world.store.get(mid)
    assert (record.state, record.recordings, record.wrapped_key) == (DISCOVERED, (), None)
    wav = next((tmp_path / "spool").rglob("msg0000.wav"))
    assert wav.read_bytes() == world.audio[0] and not is_placeholder_bytes("wav", wav.read_bytes())
    # the same message seals once the vault stores faithfully
    assert world.custody.seal(mid) == "sealed"
