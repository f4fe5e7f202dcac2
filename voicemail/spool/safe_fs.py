"""Symlink-proof access to the spool: every path is walked one validated component at a time.

Directories are opened with O_NOFOLLOW relative to their parent's descriptor, files with O_NOFOLLOW
(and O_NONBLOCK, so a planted FIFO cannot hang us) relative to their folder's descriptor, so nothing
below the spool root is ever reached through a symbolic link, whatever races happen meanwhile.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from voicemail.domain.errors import InvalidInput, InvalidMailbox
from voicemail.domain.models import FOLDERS, MailboxRef, check_name

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
MAX_MSG_NUMBER = 9999  # app_voicemail's MAXMSGLIMIT; files are msg%04d
MSG_FILE = re.compile(r"^msg(?P<number>[0-9]{4})\.(?P<ext>[A-Za-z0-9]{1,16})$")
_EXT = re.compile(r"^[A-Za-z0-9]{1,16}$")
_CHUNK = 64 * 1024


class SpoolPathRefused(InvalidInput):
    """A spool entry we will not touch: a symbolic link, or not the kind of file expected."""


def check_mailbox(mailbox: MailboxRef) -> tuple[str, str]:
    """(context, mailbox) re-validated as plain names (MailboxRef validates too; this is defence in depth)."""
    if not isinstance(mailbox, MailboxRef):
        raise InvalidMailbox("mailbox must be a MailboxRef")
    return check_name(mailbox.context, "context"), check_name(mailbox.mailbox, "mailbox")


def check_folder(folder: str) -> str:
    if folder not in FOLDERS:
        raise InvalidInput(f"unknown voicemail folder {folder[:20]!r}")
    return folder


def check_audio_ext(fmt: str) -> str:
    if not isinstance(fmt, str) or not _EXT.match(fmt) or fmt == "txt":
        raise InvalidInput("invalid audio format name")
    return fmt


def msg_base(number: int) -> str:
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= MAX_MSG_NUMBER:
        raise InvalidInput("message number out of range")
    return f"msg{number:04d}"


def _refused(dir_fd: int, name: str, exc: OSError) -> Exception:
    """Map ELOOP/ENOTDIR from an O_NOFOLLOW open to SpoolPathRefused; anything else is returned as is."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            return exc
        if stat.S_ISLNK(st.st_mode):
            return SpoolPathRefused(f"refusing symbolic link in spool: {name}")
        return SpoolPathRefused(f"unexpected file type in spool: {name}")
    return exc


def open_dir(parent_fd: int, name: str) -> int:
    try:
        return os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        raise _refused(parent_fd, name, exc) from None


def open_regular(dir_fd: int, name: str) -> int:
    """Open a regular file read-only without following a link; SpoolPathRefused for anything else."""
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise _refused(dir_fd, name, exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SpoolPathRefused(f"not a regular file in spool: {name}")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_capped(dir_fd: int, name: str, cap: int) -> bytes:
    """Read at most cap + 1 bytes (so the caller can tell an oversized file)."""
    fd = open_regular(dir_fd, name)
    try:
        chunks: list[bytes] = []
        left = cap + 1
        while left > 0:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def hash_fd(fd: int, head: int = 0) -> tuple[str, bytes]:
    """SHA-256 hex digest of the whole file from offset 0, and its first ``head`` bytes."""
    digest = hashlib.sha256()
    first = bytearray()
    offset = 0
    while True:
        chunk = os.pread(fd, _CHUNK, offset)
        if not chunk:
            break
        if len(first) < head:
            first += chunk[: head - len(first)]
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest(), bytes(first)


@contextmanager
def opened_dir(root: Path, *parts: str) -> Iterator[int]:
    """Descriptor of ``root/part/part/...``, each part opened without following links. Closed on exit.

    FileNotFoundError when a part does not exist; SpoolPathRefused when one is a link or not a dir.
    """
    fds: list[int] = []
    try:
        fds.append(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        for part in parts:
            fds.append(open_dir(fds[-1], part))
        yield fds[-1]
    finally:
        for fd in reversed(fds):
            os.close(fd)
