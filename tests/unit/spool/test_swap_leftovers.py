"""Swap files left by a strip interrupted between the exchange and the unlink: removed by the retry and by
reconciliation when they hold the sealed recording (or the placeholder), never when they hold anything else."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import CAPTURES
from voicemail.domain.models import MailboxRef
from voicemail.spool import FileSpool, placeholder_bytes

pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason=f"captures not found at {CAPTURES}")
BOX = MailboxRef("default", "1001")
MSG_Q1 = "1795978545-00000000"
WAV = (CAPTURES / "msg0000.wav").read_bytes() if CAPTURES.is_dir() else b""
WAV_SHA = hashlib.sha256(WAV).hexdigest()
SWAP = ".msg0000.wav.0123456789ab.vmswap"


def later() -> float:
    return time.time() + 3600


@pytest.fixture
def crashed(tmp_path: Path) -> Path:
    """A folder as a strip killed between the exchange and the unlink leaves it: the placeholder in
    place of the recording, the caller's audio under the hidden swap name."""
    folder = tmp_path / "voicemail/default/1001/INBOX"
    folder.mkdir(parents=True)
    shutil.copyfile(CAPTURES / "msg0000.txt", folder / "msg0000.txt")
    (folder / "msg0000.wav").write_bytes(placeholder_bytes("wav"))
    (folder / SWAP).write_bytes(WAV)
    return folder


def test_retried_strip_removes_the_swap_file_holding_the_sealed_recording(crashed: Path) -> None:
    spool = FileSpool(crashed.parents[2], clock=later)
    message = spool.find(BOX, MSG_Q1)
    assert message is not None
    assert spool.replace_with_placeholder(message, "wav", WAV_SHA) == "already"
    assert sorted(p.name for p in crashed.iterdir()) == ["msg0000.txt", "msg0000.wav"]


def test_retried_strip_keeps_a_swap_file_that_differs_from_the_sealed_copy(crashed: Path) -> None:
    foreign = WAV[:-2] + b"\x01\x02"
    (crashed / SWAP).write_bytes(foreign)
    spool = FileSpool(crashed.parents[2], clock=later)
    message = spool.find(BOX, MSG_Q1)
    assert message is not None
    assert spool.replace_with_placeholder(message, "wav", WAV_SHA) == "already"
    assert (crashed / SWAP).read_bytes() == foreign
    assert [p.reason for p in spool.scan(BOX).problems] == ["leftover swap file from an interrupted strip"]


def test_a_strip_given_the_folders_listed_swap_files_removes_the_sealed_leftover_without_listing_again(
        crashed: Path) -> None:
    spool = FileSpool(crashed.parents[2], clock=later)
    message = spool.find(BOX, MSG_Q1)
    assert message is not None
    swaps = spool.swap_files(BOX, "INBOX")  # one listing for a batch's strips in this folder
    assert swaps == frozenset({SWAP})
    assert spool.replace_with_placeholder(message, "wav", WAV_SHA, swaps=frozenset()) == "already"
    assert (crashed / SWAP).exists()  # not in the listing it was given: left to the next look
    assert spool.replace_with_placeholder(message, "wav", WAV_SHA, swaps=swaps) == "already"
    assert sorted(p.name for p in crashed.iterdir()) == ["msg0000.txt", "msg0000.wav"]


def test_reconciliation_removes_sealed_and_placeholder_leftovers_and_keeps_the_rest(crashed: Path) -> None:
    twin_before_exchange = ".msg0000.wav.aaaaaaaaaaaa.vmswap"
    unknown = ".msg0000.wav.bbbbbbbbbbbb.vmswap"
    (crashed / twin_before_exchange).write_bytes(placeholder_bytes("wav"))
    (crashed / unknown).write_bytes(b"RIFF" + b"\x07" * 200)
    asked: list[int] = []

    def sealed() -> set[str]:
        asked.append(1)
        return {WAV_SHA}

    spool = FileSpool(crashed.parents[2], clock=later)
    assert spool.clear_swap_leftovers(BOX, sealed) == 2
    assert sorted(p.name for p in crashed.iterdir()) == [unknown, "msg0000.txt", "msg0000.wav"]
    assert asked == [1]  # the store is asked once per mailbox, and only because leftovers exist
    assert [p.reason for p in spool.scan(BOX).problems] == ["leftover swap file from an interrupted strip"]


def test_reconciliation_leaves_young_swap_files_to_the_strip_in_progress(crashed: Path) -> None:
    spool = FileSpool(crashed.parents[2])  # real clock: the swap file was just written
    assert spool.clear_swap_leftovers(BOX, lambda: {WAV_SHA}) == 0
    assert (crashed / SWAP).read_bytes() == WAV


def test_reconciliation_never_asks_the_store_when_nothing_is_left(tmp_path: Path) -> None:
    folder = tmp_path / "voicemail/default/1001/INBOX"
    folder.mkdir(parents=True)

    def sealed() -> set[str]:
        raise AssertionError("asked without a leftover")

    assert FileSpool(folder.parents[2], clock=later).clear_swap_leftovers(BOX, sealed) == 0
