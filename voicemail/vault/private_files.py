"""Durable, private file operations shared by the vault and the keyring (POSIX)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

FILE_MODE = 0o600
DIR_MODE = 0o700


def fsync_directory(directory: Path) -> None:
    """Make a rename, link, unlink or mkdir inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and missing parents) as 0700, fsyncing each new entry's parent.

    An existing directory is left as it is (an operator may have set it up on purpose).
    """
    if directory.is_dir():
        return
    ensure_private_dir(directory.parent)
    with contextlib.suppress(FileExistsError):  # a concurrent writer made it first
        os.mkdir(directory, DIR_MODE)
        os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask; 0700 only loses bits
    fsync_directory(directory.parent)


@contextlib.contextmanager
def private_temp_file(directory: Path, prefix: str, *, fsync: bool = True) -> Iterator[tuple[BinaryIO, Path]]:
    """A new 0600 temp file in ``directory``. Removed on error, left for the caller to publish on success.

    The file is flushed and (unless ``fsync`` is False) fsynced before the block's result is handed back.
    """
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            yield handle, temp
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


def publish_replace(temp: Path, final: Path, *, fsync: bool = True) -> None:
    """Atomically put ``temp`` at ``final`` (replacing what is there) and (``fsync``) make it durable."""
    try:
        os.replace(temp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    if fsync:
        fsync_directory(final.parent)


def sync_filesystem(path: Path) -> None:
    """Flush every dirty file and directory entry of the file system holding ``path`` to stable storage
    (Linux syncfs(2); os.sync() elsewhere)."""
    libc = _libc()
    if libc is not None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, looked up once per process (find_library runs a subprocess each time)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "syncfs") else None


_SYNC_FILE_RANGE_WRITE = 2
_PAGE = 4096


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    libc = _libc()
    function = getattr(libc, "sync_file_range", None) if libc is not None else None
    if function is None:
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast(Callable[[int, int, int, int], int], function)


_start_range = _sync_file_range()


def start_writeback(fd: int, end: int) -> None:
    """Ask the kernel to start writing the dirty whole pages of ``fd`` before offset ``end`` to disk,
    without waiting (Linux ``sync_file_range``; nothing elsewhere). A hint only: it makes a later fsync
    shorter, never replaces it. The page ``end`` falls in is left alone (it is still being written)."""
    length = end - end % _PAGE
    if _start_range is not None and length > 0:
        _start_range(fd, 0, length, _SYNC_FILE_RANGE_WRITE)


def publish_new(temp: Path, final: Path) -> None:
    """Atomically put ``temp`` at ``final`` only if nothing is there (FileExistsError otherwise)."""
    try:
        os.link(temp, final)
    finally:
        temp.unlink()
    fsync_directory(final.parent)
