"""Swap files left by an interrupted strip: removed when they hold nothing we do not already hold.

A strip writes the placeholder to a hidden twin ``.msgNNNN.<fmt>.<12 hex>.vmswap``, exchanges it with
the recording, then unlinks the twin (see ``strip.py``). A process killed between the exchange and the
unlink leaves the caller's audio under the twin name; one killed before the exchange leaves a twin
holding the placeholder. A leftover is removed only when its content is the placeholder of its format,
or hashes to the SHA-256 of a sealed, committed copy: then deleting it loses nothing. Anything else is
never deleted here; ``FileSpool.scan`` keeps reporting it.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable

from voicemail.domain.errors import InvalidInput, UnsupportedFormat
from voicemail.spool.placeholder import placeholder_bytes
from voicemail.spool.safe_fs import hash_fd, open_regular

SWAP_SUFFIX = ".vmswap"
SWAP_FILE = re.compile(r"^\.(?P<name>msg[0-9]{4}\.(?P<ext>[A-Za-z0-9]{1,16}))\.[0-9a-f]{12}\.vmswap$")


def is_swap_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(SWAP_SUFFIX)


def swap_names(folder_fd: int, recording: str | None = None) -> list[str]:
    """The swap files in this folder (only those made for ``recording``, e.g. ``msg0003.wav``, if given)."""
    with os.scandir(folder_fd) as entries:
        return swaps_among((entry.name for entry in entries), recording)


def swaps_among(names: Iterable[str], recording: str | None = None) -> list[str]:
    """The swap file names among ``names`` (only those made for ``recording``, if given), sorted."""
    found: list[str] = []
    for name in names:
        if not is_swap_name(name):
            continue
        match = SWAP_FILE.match(name)
        if match is not None and (recording is None or match.group("name") == recording):
            found.append(name)
    return sorted(found)


def remove_if_held(folder_fd: int, swap: str, sealed: Callable[[str], bool]) -> bool:
    """Unlink the swap file when it is our placeholder or ``sealed(sha256 of its content)`` is True.

    Returns True when it was removed (or is already gone), False when it was left in place.
    """
    match = SWAP_FILE.match(swap)
    if match is None:
        return False
    try:
        fd = open_regular(folder_fd, swap)
    except FileNotFoundError:
        return True
    except InvalidInput:  # a link or something odd under our name: never ours to delete
        return False
    try:
        st = os.fstat(fd)
        digest, head = hash_fd(fd, 4096)
    finally:
        os.close(fd)
    if not (_is_placeholder(match.group("ext"), head, st.st_size) or sealed(digest)):
        return False
    try:
        now = os.stat(swap, dir_fd=folder_fd, follow_symlinks=False)
    except FileNotFoundError:
        return True
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        return False  # replaced since we hashed it: look again next time
    with contextlib.suppress(FileNotFoundError):
        os.unlink(swap, dir_fd=folder_fd)
    os.fsync(folder_fd)
    return True


def _is_placeholder(fmt: str, head: bytes, size: int) -> bool:
    try:
        expected = placeholder_bytes(fmt)
    except UnsupportedFormat:
        return False
    return size == len(expected) and head == expected
