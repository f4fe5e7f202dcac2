"""What a crash of the machine would keep, as far as the code asked for it: every fsync(2) and every sync
of the file system, recorded instead of made (``os.fsync`` and ``os.sync`` are replaced; syncfs is made
to look unavailable, so ``sync_filesystem`` falls back to ``os.sync``), and a spy on the store methods
that commit, which notes every file a commit relies on that would not survive a crash at that moment.

A file at a path is durable when its data was fsynced (or synced) at its current size, and its name
(the entry in its folder, and each folder's entry up to the tree's root) was made durable after it
pointed to the file's inode: by an fsync of the folder, or by a sync. Everything under the root counts
as durable when the log is installed (what the test set up is on disk)."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from voicemail.vault import private_files


class DurabilityLog:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._data: dict[int, int] = {}  # inode -> size its data was made durable at
        self._entries: set[tuple[int, str, int]] = set()  # (folder inode, name, inode) made durable
        self.events: list[str] = []  # "fsync <path>", "sync", "commit <method>", in the order they happened
        self.violations: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(os, "fsync", self._fsync)
        monkeypatch.setattr(os, "sync", self._sync)
        monkeypatch.setattr(private_files, "_libc", lambda: None)  # sync_filesystem: os.sync
        self._sync()  # the test's setup counts as on disk
        self.events.clear()

    def spy(self, monkeypatch: pytest.MonkeyPatch, owner: object, method: str,
            relies_on: Callable[..., Iterable[Path]]) -> None:
        """Before each call of ``owner.method``, note each path of ``relies_on(*args, **kwargs)`` that is
        not durable; the call itself goes on unchanged."""
        real = getattr(owner, method)

        def spied(*args: Any, **kwargs: Any) -> Any:
            for path in relies_on(*args, **kwargs):
                problem = self.problem(path)
                if problem is not None:
                    self.violations.append(f"{method}: {problem}")
            self.events.append(f"commit {method}")
            return real(*args, **kwargs)
        monkeypatch.setattr(owner, method, spied)

    def problem(self, path: Path) -> str | None:
        """Why ``path`` would not survive a crash now (None: it would)."""
        shown = path.relative_to(self.root)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return f"{shown} is missing"
        with self._lock:
            if self._data.get(st.st_ino) != st.st_size:
                return f"the data of {shown} is not durable"
            child, inode = path, st.st_ino
            while child != self.root:
                folder = os.lstat(child.parent).st_ino
                if (folder, child.name, inode) not in self._entries:
                    return f"the name {child.relative_to(self.root)} of {shown} is not durable"
                child, inode = child.parent, folder
        return None

    def count(self, prefix: str) -> int:
        return sum(1 for event in self.events if event.startswith(prefix))

    def _fsync(self, fd: int) -> None:
        st = os.fstat(fd)
        with self._lock:
            if stat.S_ISDIR(st.st_mode):
                for name in os.listdir(fd):
                    with contextlib.suppress(FileNotFoundError):
                        self._entries.add((st.st_ino, name, os.stat(name, dir_fd=fd, follow_symlinks=False).st_ino))
            else:
                self._data[st.st_ino] = st.st_size
            self.events.append(f"fsync {self._name(fd)}")

    def _sync(self) -> None:
        with self._lock:
            for folder, dirs, files in os.walk(self.root):
                with contextlib.suppress(FileNotFoundError):
                    at = os.lstat(folder).st_ino
                    for name in (*dirs, *files):
                        with contextlib.suppress(FileNotFoundError):
                            st = os.lstat(os.path.join(folder, name))
                            self._entries.add((at, name, st.st_ino))
                            if stat.S_ISREG(st.st_mode):
                                self._data[st.st_ino] = st.st_size
            self.events.append("sync")

    def _name(self, fd: int) -> str:
        try:
            return str(Path(os.readlink(f"/proc/self/fd/{fd}")).relative_to(self.root))
        except (OSError, ValueError):
            return "?"
