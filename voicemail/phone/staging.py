"""Staging files: decrypted audio that Asterisk must read, for as short a time as possible.

The folder (a tmpfs such as ``/run/voicemail-stage`` is best: nothing reaches a disk) is ``2750``,
owned by the service user and the group it shares with Asterisk; each file is ``0640`` in that group,
created with O_EXCL | O_NOFOLLOW under a random name, never world-readable. Asterisk therefore does
NOT need to run as the service user: it only needs to be a member of ``phone_staging_group``.

``sweep(prefix)`` removes every file with that prefix (at start-up no call survives, so none is in
use), ``sweep(prefix, max_age)`` only the older ones.
"""

from __future__ import annotations

import contextlib
import grp
import os
import secrets
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from voicemail.domain.errors import ConfigError

DIR_MODE = 0o2750  # setgid: files get the folder's group even when no group is configured
FILE_MODE = 0o640


class StagingDir:
    def __init__(self, path: Path, group: str = "") -> None:
        self.path = Path(path).absolute()  # Asterisk looks a relative name up in its sounds folder
        self._group = group
        self._gid: int | None = None

    def _resolve_gid(self) -> int | None:
        if not self._group:
            return None
        if self._gid is None:
            try:
                self._gid = grp.getgrnam(self._group).gr_gid if not self._group.isdigit() else int(self._group)
            except KeyError:
                raise ConfigError(f"setting phone_staging_group (VOICEMAIL_PHONE_STAGING_GROUP): no group "
                                  f"{self._group[:40]!r}") from None
        return self._gid

    def ensure(self) -> None:
        """Create the folder if needed and make its mode and group right (refuses a symlink)."""
        self.path.mkdir(mode=0o750, parents=True, exist_ok=True)
        info = os.lstat(self.path)
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"staging folder {self.path} is not a folder")
        gid = self._resolve_gid()
        try:
            if gid is not None and info.st_gid != gid:
                os.chown(self.path, -1, gid)
            os.chmod(self.path, DIR_MODE)
        except PermissionError:
            raise ConfigError(f"staging folder {self.path}: cannot give it group {self._group!r} and mode 2750 "
                              "(the service user must own it and be a member of the group)") from None

    def write(self, prefix: str, suffix: str, chunks: Iterable[bytes]) -> Path:
        """A new ``0640`` file ``<prefix><random><suffix>`` holding ``chunks``; removed again if writing fails."""
        self.ensure()
        path = self.path / f"{prefix}{secrets.token_hex(12)}{suffix}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
        try:
            gid = self._resolve_gid()
            if gid is not None:
                os.fchown(fd, -1, gid)
            os.fchmod(fd, FILE_MODE)  # the umask may have taken the group's read bit
            with os.fdopen(fd, "wb") as sink:
                for piece in chunks:
                    sink.write(piece)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def remove(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def sweep(self, prefix: str, max_age: float | None = None, now: float | None = None) -> int:
        """Remove the files starting with ``prefix`` (only those older than ``max_age`` seconds when
        given). Returns how many."""
        if not self.path.is_dir():
            return 0
        cutoff = None if max_age is None else (time.time() if now is None else now) - max_age
        removed = 0
        for entry in self.path.iterdir():
            if not entry.name.startswith(prefix) or entry.is_symlink() or not entry.is_file():
                continue
            try:
                if cutoff is None or entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
