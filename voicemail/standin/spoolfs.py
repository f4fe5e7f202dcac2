"""app_voicemail's spool files below ``root`` (FILE_STORAGE): paths, ``ast_lock_path`` lock files, the
directory scans its counts are made of, message file copy/rename/delete, and writing a new message.

The counting rules are app_voicemail's own (they decide what a client sees, capture q2):
``count_messages`` counts names with ``.txt`` at offset 7, ``__has_voicemail`` counts ``msg*`` entries whose
characters 8-10 are ``txt``, ``last_message_index`` is the highest ``msgN.txt`` number, and ``EXISTS``
means "an audio file of any registered format" -- never the ``.txt``. Context and mailbox names are
checked to be plain names before they become paths.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import shutil
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from voicemail.standin.config import StandinMailbox, is_plain_name
from voicemail.standin.msginfo import read_message

log = logging.getLogger(__name__)

FOLDERS = ("INBOX", "Old", "Work", "Family", "Friends", "Cust1", "Cust2", "Cust3", "Cust4", "Cust5",
           "Deleted", "Urgent")
MAXMSGLIMIT = 9999
# File extensions of the formats Asterisk has registered; ast_fileexists/filecopy/filerename/filedelete
# with no format act on every one of them that exists.
AUDIO_EXTENSIONS = ("wav", "WAV", "wav49", "wav16", "gsm", "g722", "g729", "g723", "g726-16", "g726-24",
                    "g726-32", "g726-40", "ulaw", "pcm", "ul", "mu", "ulw", "alaw", "al", "alw", "sln",
                    "raw", "sln12", "sln16", "sln24", "sln32", "sln44", "sln48", "sln96", "sln192",
                    "ilbc", "siren7", "siren14", "vox", "ogg", "h263", "h264")
DIR_MODE = 0o755
AUDIO_MODE = 0o644
TXT_MODE = 0o666
_LAST_INDEX = re.compile(r"^msg\s*(\d+)\.(\S{1,3})")
_STALE_LOCK_SECONDS = 5.0


def folder_index(name: str) -> int:
    """``get_folder_by_name``: case-insensitive, -1 when unknown."""
    low = name.lower()
    for i, folder in enumerate(FOLDERS):
        if folder.lower() == low:
            return i
    return -1


def msg_name(num: int) -> str:
    return f"msg{num:04d}"


@dataclass
class Deposit:
    """A message being recorded: its temporary files in ``<mailbox>/tmp``."""

    user: StandinMailbox
    folder: str
    folder_dir: Path
    tmp_txt: Path
    extensions: tuple[str, ...]


class SpoolFiles:
    """The files of the spool below ``root`` (= Asterisk's ``.../voicemail``)."""

    def __init__(self, root: Path, extensions: tuple[str, ...], maxmsg: int) -> None:
        self.root = Path(root).absolute()
        self.extensions = extensions
        self.maxmsg = maxmsg
        self._rng = random.Random()

    # --- paths and locks ---------------------------------------------------------------------------

    def folder_dir(self, context: str, mailbox: str, folder: str) -> Path:
        return self.root / context / mailbox / folder

    def create_dirpath(self, context: str, mailbox: str, folder: str) -> Path:
        """``create_dirpath``: mkdir -p of ``<root>/<context>/<mailbox>/<folder>`` with mode 0755."""
        path = self.root
        for part in (context, mailbox, folder):
            path = path / part
            try:
                path.mkdir(mode=DIR_MODE)
                os.chmod(path, DIR_MODE)
            except FileExistsError:
                pass
        return path

    @contextlib.contextmanager
    def locked(self, directory: Path) -> Iterator[bool]:
        """``ast_lock_path`` (lockfile method). Yields False when the directory cannot be locked."""
        tmp = directory / f".lock-{self._rng.getrandbits(32):08x}"
        lock = directory / ".lock"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        except OSError:
            yield False
            return
        os.close(fd)
        held = False
        try:
            for _ in range(2):
                try:
                    os.link(tmp, lock)
                    held = True
                    break
                except FileExistsError:
                    if not self._clear_stale(lock):
                        break
                except OSError:
                    break
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if not held:
            log.warning("standin: spool folder is locked by someone else; going ahead without the lock")
        try:
            yield True
        finally:
            if held:
                with contextlib.suppress(OSError):
                    os.unlink(lock)

    @staticmethod
    def _clear_stale(lock: Path) -> bool:
        try:
            if time.time() - lock.lstat().st_mtime > _STALE_LOCK_SECONDS:
                lock.unlink()
                return True
        except OSError:
            return True
        return False

    # --- directory scans (exactly app_voicemail's rules) ---------------------------------------------

    @staticmethod
    def _names(directory: Path) -> list[str]:
        try:
            with os.scandir(directory) as entries:
                return [e.name for e in entries]
        except OSError:
            return []

    def count_messages(self, directory: Path) -> int:
        """``count_messages``: names longer than 7 with ``.txt`` at offset 7."""
        with self.locked(directory):
            return sum(1 for n in self._names(directory) if len(n) > 7 and n[7:11] == ".txt")

    def last_message_index(self, directory: Path) -> int:
        """``last_message_index``: the highest ``msgN.txt`` number (gaps allowed), -1 when none."""
        found = set()
        for name in self._names(directory):
            m = _LAST_INDEX.match(name)
            if m and m.group(2) == "txt" and int(m.group(1)) < MAXMSGLIMIT:
                found.add(int(m.group(1)))
        return max(found) if found else -1

    def _count_folder(self, context: str, mailbox: str, folder: str, shortcircuit: bool) -> int:
        """``__has_voicemail``: ``msg*`` entries whose characters 8-10 are ``txt`` (any case)."""
        if not (is_plain_name(context) and is_plain_name(mailbox)):
            return 0
        count = 0
        for name in self._names(self.folder_dir(context, mailbox, folder)):
            if name[:3].lower() == "msg":
                if shortcircuit:
                    return 1
                if name[8:11].lower() == "txt":
                    count += 1
        return count

    @staticmethod
    def _split(spec: str) -> tuple[str, str]:
        box, _, context = spec.partition("@")
        return box, context or "default"

    def inboxcount2(self, spec: str) -> tuple[int, int, int]:
        """``inboxcount2``: (urgent, new, old), summed over ``,``-separated mailboxes."""
        if not spec:
            return 0, 0, 0
        if "," in spec:
            total = [0, 0, 0]
            for part in re.split(r"[, ]", spec):
                if part:
                    for i, v in enumerate(self.inboxcount2(part)):
                        total[i] += v
            return total[0], total[1], total[2]
        box, context = self._split(spec)
        return (self._count_folder(context, box, "Urgent", False), self._count_folder(context, box, "INBOX", False),
                self._count_folder(context, box, "Old", False))

    def inboxcount(self, spec: str) -> tuple[int, int]:
        """``inboxcount``: (new including urgent, old)."""
        urgent, new, old = self.inboxcount2(spec)
        return new + urgent, old

    def has_voicemail(self, spec: str) -> bool:
        """``has_voicemail`` for INBOX: any ``msg*`` file in INBOX or Urgent."""
        for part in re.split(r"[,&]", spec):
            if not part:
                continue
            box, context = self._split(part)
            if self._count_folder(context, box, "INBOX", True) or self._count_folder(context, box, "Urgent", True):
                return True
        return False

    # --- message files -------------------------------------------------------------------------------

    def _audio_of(self, base: Path) -> list[Path]:
        return [p for p in (base.with_name(f"{base.name}.{ext}") for ext in AUDIO_EXTENSIONS) if p.exists()]

    def exists(self, base: Path) -> bool:
        """``EXISTS`` = ``ast_fileexists(fn, NULL)``: an audio file of any registered format."""
        return bool(self._audio_of(base))

    def _copy(self, src: Path, dst: Path) -> None:
        shutil.copyfile(src, dst, follow_symlinks=False)
        os.chmod(dst, AUDIO_MODE)

    def copy_message_files(self, sfn: Path, dfn: Path) -> None:
        """``copy_plain_file``: every existing audio format, then the ``.txt``."""
        for audio in self._audio_of(sfn):
            self._copy(audio, dfn.with_name(f"{dfn.name}{audio.suffix}"))
        txt = sfn.with_name(f"{sfn.name}.txt")
        with contextlib.suppress(OSError):
            self._copy(txt, dfn.with_name(f"{dfn.name}.txt"))

    def rename_message_files(self, sfn: Path, dfn: Path) -> None:
        """``rename_file``: every existing audio format, then the ``.txt``."""
        for audio in self._audio_of(sfn):
            os.replace(audio, dfn.with_name(f"{dfn.name}{audio.suffix}"))
        with contextlib.suppress(OSError):
            os.replace(sfn.with_name(f"{sfn.name}.txt"), dfn.with_name(f"{dfn.name}.txt"))

    def delete_message_files(self, base: Path) -> None:
        """``vm_delete``: the ``.txt`` and every existing audio format."""
        with contextlib.suppress(OSError):
            base.with_name(f"{base.name}.txt").unlink()
        for audio in self._audio_of(base):
            with contextlib.suppress(OSError):
                audio.unlink()

    @staticmethod
    def read_info(base: Path) -> dict[str, str] | None:
        """The ``[message]`` section of ``base.txt`` (None when unreadable, like ast_config_load)."""
        path = base.with_name(f"{base.name}.txt")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as fh:
                data = fh.read(1 << 16)
        except OSError:
            return None
        return read_message(data.decode("utf-8", "replace"))

    # --- leaving a message (leave_voicemail) ---------------------------------------------------------

    def begin_deposit(self, user: StandinMailbox, folder: str) -> Deposit:
        """Create ``<mailbox>/tmp/XXXXXX`` (the message file, mode 0666) as mkstemp would."""
        folder_dir = self.folder_dir(user.context, user.mailbox, folder)
        tmpdir = self.create_dirpath(user.context, user.mailbox, "tmp")
        alphabet = string.ascii_letters + string.digits
        while True:
            tmp = tmpdir / "".join(self._rng.choice(alphabet) for _ in range(6))
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                continue
            os.close(fd)
            os.chmod(tmp, TXT_MODE)
            return Deposit(user, folder, folder_dir, tmp, self.extensions)

    def start_recording(self, dep: Deposit) -> None:
        """The recording files appear in tmp (empty until the call ends)."""
        for ext in dep.extensions:
            path = dep.tmp_txt.with_name(f"{dep.tmp_txt.name}.{ext}")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, AUDIO_MODE)
            os.close(fd)
            os.chmod(path, AUDIO_MODE)

    def finish_deposit(self, dep: Deposit, txt: str, audio: dict[str, bytes]) -> Path:
        """Write the files, then under the folder lock take the next number and rename audio, then
        ``.txt`` into the folder (chmod 0666). Returns the message's base path (``.../msgNNNN``)."""
        for ext in dep.extensions:
            path = dep.tmp_txt.with_name(f"{dep.tmp_txt.name}.{ext}")
            with open(path, "wb") as fh:
                fh.write(audio[ext])
        with open(dep.tmp_txt, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(txt)
        dep.folder_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        with self.locked(dep.folder_dir):
            num = self.last_message_index(dep.folder_dir) + 1
            base = dep.folder_dir / msg_name(num)
            for ext in dep.extensions:
                os.replace(dep.tmp_txt.with_name(f"{dep.tmp_txt.name}.{ext}"), base.with_name(f"{base.name}.{ext}"))
            txt_path = base.with_name(f"{base.name}.txt")
            os.replace(dep.tmp_txt, txt_path)
            os.chmod(txt_path, TXT_MODE)
        return base

    def abandon_deposit(self, dep: Deposit) -> None:
        for path in (dep.tmp_txt, *(dep.tmp_txt.with_name(f"{dep.tmp_txt.name}.{e}") for e in dep.extensions)):
            with contextlib.suppress(OSError):
                path.unlink()
