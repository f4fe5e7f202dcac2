"""FileSpool: the Spool port over app_voicemail's file storage.

Layout: ``<root>/<context>/<mailbox>/<folder>/msgNNNN.{txt,wav,WAV,...}`` with the folders of
``voicemail.domain.models.FOLDERS``; ``<mailbox>/tmp`` is Asterisk's work area and never looked at.
Message numbers are not stable (Asterisk renumbers on VoicemailBoxSummary / Move / Remove), msg_id is:
every operation on a message re-reads the ``.txt`` at its place and raises SpoolChanged when another
message lies there now, so the caller can ``find()`` it again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from voicemail.domain.errors import ConfigError, InvalidInput, InvalidMailbox, MalformedEnvelope, SpoolChanged
from voicemail.domain.models import (
    FOLDERS,
    MSG_ID,
    AudioFile,
    MailboxRef,
    SpoolMessage,
    SpoolProblem,
    SpoolScan,
)
from voicemail.spool.envelope import MAX_ENVELOPE_BYTES
from voicemail.spool.envelope_salvage import read_envelope
from voicemail.spool.leftovers import is_swap_name, remove_if_held, swap_names
from voicemail.spool.placeholder import is_placeholder_bytes, placeholder_bytes
from voicemail.spool.safe_fs import (
    MSG_FILE,
    SpoolPathRefused,
    check_audio_ext,
    check_folder,
    check_mailbox,
    msg_base,
    open_dir,
    open_regular,
    opened_dir,
    read_capped,
)
from voicemail.spool.strip import replace_recording, verify_msg_id
from voicemail.vault.private_files import sync_filesystem

DEFAULT_GRACE_SECONDS = 10.0


@dataclass
class _Slot:
    """The files of one message number in one folder, as listed."""

    txt: os.DirEntry[str] | None = None
    audio: dict[str, os.DirEntry[str]] = field(default_factory=dict)


class FileSpool:
    """Reads and strips app_voicemail's spool under ``root``.

    ``formats_hint``: the formats voicemail.conf lists (e.g. ``("WAV", "wav")``), as file extensions.
    Audio is listed in that order, and a young message lacking one of them is not listed yet.
    ``grace_seconds``: how long a just-written ``.txt`` may lack its audio (or fail to parse) before it
    is reported as a problem instead of silently skipped; Asterisk renames files in one by one.
    """

    def __init__(
        self,
        root: Path,
        formats_hint: tuple[str, ...] = (),
        *,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        clock: Callable[[], float] = time.time,
        use_exchange: bool = True,
        after_swap: Callable[[], None] | None = None,
    ) -> None:
        self._root = Path(root)
        self._formats = tuple(check_audio_ext(fmt) for fmt in formats_hint)
        self._grace = grace_seconds
        self._clock = clock
        self._use_exchange = use_exchange
        self._after_swap = after_swap

    # --- listing ----------------------------------------------------------------------------------

    def mailboxes(self) -> list[MailboxRef]:
        """Every ``<context>/<mailbox>`` directory whose names are valid; links and odd names skipped."""
        found: list[MailboxRef] = []
        try:
            with opened_dir(self._root) as root_fd:
                for context in self._subdirs(root_fd):
                    try:
                        with opened_dir(self._root, context) as ctx_fd:
                            boxes = self._subdirs(ctx_fd)
                    except (FileNotFoundError, SpoolPathRefused):
                        continue
                    for box in boxes:
                        try:
                            found.append(MailboxRef(context=context, mailbox=box))
                        except InvalidMailbox:
                            continue
        except FileNotFoundError:
            raise ConfigError(f"voicemail spool root not found: {self._root}") from None
        return sorted(found)

    def count_envelopes(self, limit: int | None = None) -> int:
        """How many ``msgNNNN.txt`` files the folders of every mailbox hold (a quick count, no parsing).
        With ``limit``, counting stops once ``limit`` are found (the answer is then ``limit``)."""
        total = 0
        for mailbox in self.mailboxes():
            for folder in FOLDERS:
                try:
                    with os.scandir(self._root / mailbox.context / mailbox.mailbox / folder) as entries:
                        for entry in entries:
                            if entry.name.endswith(".txt") and MSG_FILE.match(entry.name):
                                total += 1
                                if limit is not None and total >= limit:
                                    return total
                except (FileNotFoundError, NotADirectoryError):
                    continue
        return total

    @staticmethod
    def _subdirs(dir_fd: int) -> list[str]:
        with os.scandir(dir_fd) as entries:
            return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))

    def scan(self, mailbox: MailboxRef) -> SpoolScan:
        """All messages in all folders of ``mailbox``, plus what we refused to touch (and why)."""
        context, box = check_mailbox(mailbox)
        messages: list[SpoolMessage] = []
        problems: list[SpoolProblem] = []
        with self._mailbox_dir(context, box, problems) as box_fd:
            if box_fd is not None:
                for folder in FOLDERS:
                    messages.extend(self._scan_folder(mailbox, box_fd, folder, problems))
        return SpoolScan(messages=tuple(messages), problems=tuple(problems))

    def find(self, mailbox: MailboxRef, msg_id: str, hint: tuple[str, int] | None = None) -> SpoolMessage | None:
        """Where the message ``msg_id`` lies now (first in FOLDERS order, then by number), or None.

        ``hint`` (folder, number) is where it was last seen: that one slot is read first, and the whole
        mailbox only when the message is no longer there. Looks twice if the full pass finds nothing,
        since files may be mid-rename during a renumbering.
        """
        context, box = check_mailbox(mailbox)
        if not isinstance(msg_id, str) or not MSG_ID.match(msg_id):
            raise InvalidInput("invalid msg_id")
        if hint is not None and hint[0] in FOLDERS and 0 <= hint[1] <= 9999:
            hinted = self._read_one(mailbox, context, box, hint[0], hint[1])
            if hinted is not None and hinted.envelope.msg_id == msg_id:
                return hinted
        for _attempt in range(2):
            with self._mailbox_dir(context, box, []) as box_fd:
                if box_fd is None:
                    return None
                for folder in FOLDERS:
                    for message in self._scan_folder(mailbox, box_fd, folder, []):
                        if message.envelope.msg_id == msg_id:
                            return message
        return None

    def find_hinted(self, mailbox: MailboxRef, hints: Sequence[tuple[str, str, int]]) -> dict[str, SpoolMessage]:
        """Many messages of one mailbox at the slots where they were last seen (msg_id, folder, number), each
        folder listed once: msg_id -> message, for those still there (a slot is read as ``find`` reads its
        hint). The others are the caller's to ``find``."""
        context, box = check_mailbox(mailbox)
        by_folder: dict[str, dict[int, set[str]]] = {}  # folder -> number -> the msg_ids last seen there
        for msg_id, folder, number in hints:
            if isinstance(msg_id, str) and MSG_ID.match(msg_id) and folder in FOLDERS and 0 <= number <= 9999:
                by_folder.setdefault(folder, {}).setdefault(number, set()).add(msg_id)
        found: dict[str, SpoolMessage] = {}
        with self._mailbox_dir(context, box, []) as box_fd:
            if box_fd is None:
                return found
            for folder, wanted in by_folder.items():
                for number, message in self._read_slots(mailbox, context, box, box_fd, folder, set(wanted)).items():
                    if message.envelope.msg_id in wanted[number]:
                        found[message.envelope.msg_id] = message
        return found

    def _read_one(self, mailbox: MailboxRef, context: str, box: str, folder: str, number: int) -> SpoolMessage | None:
        """The message in one slot (folder, number), or None; problems are left to the full scan."""
        with self._mailbox_dir(context, box, []) as box_fd:
            if box_fd is None:
                return None
            return self._read_slots(mailbox, context, box, box_fd, folder, {number}).get(number)

    def _read_slots(self, mailbox: MailboxRef, context: str, box: str, box_fd: int, folder: str,
                    numbers: set[int]) -> dict[int, SpoolMessage]:
        """The messages in the slots ``numbers`` of one folder (one listing); a slot with a link or anything
        but a regular file among its files is left out, problems are left to the full scan."""
        folder_path = self._root / context / box / folder
        try:
            folder_fd = open_dir(box_fd, folder)
        except (FileNotFoundError, SpoolPathRefused):
            return {}
        try:
            slots: dict[int, _Slot] = {}
            refused: set[int] = set()
            with os.scandir(folder_fd) as entries:
                for entry in entries:
                    match = MSG_FILE.match(entry.name)
                    if match is None:
                        continue
                    number = int(match.group("number"))
                    if number not in numbers or number in refused:
                        continue
                    if not entry.is_file(follow_symlinks=False) or entry.is_symlink():
                        refused.add(number)
                        continue
                    slot = slots.setdefault(number, _Slot())
                    if match.group("ext") == "txt":
                        slot.txt = entry
                    else:
                        slot.audio[match.group("ext")] = entry
            out: dict[int, SpoolMessage] = {}
            for number, slot in slots.items():
                if number in refused or slot.txt is None:
                    continue
                if not os.path.basename(slot.txt.path).startswith(msg_base(number)):
                    continue
                message = self._read_slot(mailbox, folder, number, slot, folder_fd, folder_path, [])
                if message is not None:
                    out[number] = message
            return out
        finally:
            os.close(folder_fd)

    @contextmanager
    def _mailbox_dir(self, context: str, box: str, problems: list[SpoolProblem]) -> Iterator[int | None]:
        """The mailbox directory's descriptor; None if it does not exist or was refused (a problem)."""
        if not self._root.is_dir():
            raise ConfigError(f"voicemail spool root not found: {self._root}")
        try:
            with opened_dir(self._root, context) as ctx_fd:
                try:
                    box_fd = open_dir(ctx_fd, box)
                except SpoolPathRefused as exc:
                    problems.append(SpoolProblem(str(self._root / context / box), str(exc)))
                    box_fd = None
        except SpoolPathRefused as exc:
            problems.append(SpoolProblem(str(self._root / context), str(exc)))
            box_fd = None
        except FileNotFoundError:
            box_fd = None
        try:
            yield box_fd
        finally:
            if box_fd is not None:
                os.close(box_fd)

    def _scan_folder(
        self, mailbox: MailboxRef, box_fd: int, folder: str, problems: list[SpoolProblem]
    ) -> list[SpoolMessage]:
        folder_path = self._root / mailbox.context / mailbox.mailbox / folder
        try:
            folder_fd = open_dir(box_fd, folder)
        except FileNotFoundError:
            return []
        except SpoolPathRefused as exc:
            problems.append(SpoolProblem(str(folder_path), str(exc)))
            return []
        try:
            slots = self._list_slots(folder_fd, folder_path, problems)
            messages: list[SpoolMessage] = []
            for number, slot in sorted(slots.items()):
                message = self._read_slot(mailbox, folder, number, slot, folder_fd, folder_path, problems)
                if message is not None:
                    messages.append(message)
            return messages
        finally:
            os.close(folder_fd)

    def _list_slots(self, folder_fd: int, folder_path: Path, problems: list[SpoolProblem]) -> dict[int, _Slot]:
        slots: dict[int, _Slot] = {}
        with os.scandir(folder_fd) as entries:
            for entry in entries:
                if is_swap_name(entry.name):
                    if self._is_old(entry):
                        problems.append(
                            SpoolProblem(str(folder_path / entry.name), "leftover swap file from an interrupted strip")
                        )
                    continue
                match = MSG_FILE.match(entry.name)
                if match is None:
                    continue  # .lock files, greetings, anything not ours
                if entry.is_symlink():
                    problems.append(SpoolProblem(str(folder_path / entry.name), "symbolic link refused"))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    problems.append(SpoolProblem(str(folder_path / entry.name), "not a regular file"))
                    continue
                slot = slots.setdefault(int(match.group("number")), _Slot())
                if match.group("ext") == "txt":
                    slot.txt = entry
                else:
                    slot.audio[match.group("ext")] = entry
        return slots

    def _read_slot(
        self,
        mailbox: MailboxRef,
        folder: str,
        number: int,
        slot: _Slot,
        folder_fd: int,
        folder_path: Path,
        problems: list[SpoolProblem],
    ) -> SpoolMessage | None:
        base = msg_base(number)
        txt_path = folder_path / f"{base}.txt"
        if slot.txt is None:
            if slot.audio and all(self._is_old(e) for e in slot.audio.values()):
                problems.append(SpoolProblem(str(folder_path / base), "audio without an envelope (.txt)"))
            return None
        young = not self._is_old(slot.txt)
        try:
            envelope, refused = read_envelope(read_capped(folder_fd, f"{base}.txt", MAX_ENVELOPE_BYTES))
        except (FileNotFoundError, SpoolPathRefused):
            return None  # renamed away since listing (or swapped for something odd): the next look sees it
        except MalformedEnvelope as exc:
            if not young:
                problems.append(SpoolProblem(str(txt_path), f"malformed envelope: {exc}"))
            return None
        if not slot.audio or (young and any(fmt not in slot.audio for fmt in self._formats)):
            if not young:
                problems.append(SpoolProblem(str(txt_path), "no audio file beside the envelope"))
            return None
        audio = tuple(AudioFile(fmt=fmt, path=str(folder_path / f"{base}.{fmt}")) for fmt in self._order(slot.audio))
        return SpoolMessage(mailbox=mailbox, folder=folder, number=number, txt_path=str(txt_path), envelope=envelope,
                            audio=audio, envelope_problem=refused)

    def _order(self, formats: dict[str, os.DirEntry[str]]) -> list[str]:
        hinted = [fmt for fmt in self._formats if fmt in formats]
        return hinted + sorted(fmt for fmt in formats if fmt not in self._formats)

    def _is_old(self, entry: os.DirEntry[str]) -> bool:
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return False
        return self._clock() - max(st.st_mtime, st.st_ctime) >= self._grace

    # --- one message --------------------------------------------------------------------------------

    def _place(self, message: SpoolMessage) -> tuple[tuple[str, str, str], str, str]:
        """Validated (context, mailbox, folder), file base name and msg_id of a message. No disk access."""
        context, box = check_mailbox(message.mailbox)
        folder = check_folder(message.folder)
        base = msg_base(message.number)
        msg_id = message.envelope.msg_id
        if not MSG_ID.match(msg_id):
            raise InvalidInput("invalid msg_id")
        return (context, box, folder), base, msg_id

    def open_audio(self, message: SpoolMessage, fmt: str) -> BinaryIO:
        """The recording, opened for reading, after checking the message still lies at that place."""
        parts, base, msg_id = self._place(message)
        check_audio_ext(fmt)
        with self._folder(parts) as folder_fd:
            verify_msg_id(folder_fd, base, msg_id)
            try:
                fd = open_regular(folder_fd, f"{base}.{fmt}")
            except FileNotFoundError:
                raise SpoolChanged("the recording is no longer at that place; look again") from None
            try:
                verify_msg_id(folder_fd, base, msg_id)
            except BaseException:
                os.close(fd)
                raise
        return os.fdopen(fd, "rb")

    def read_envelope_bytes(self, message: SpoolMessage) -> bytes:
        """The msgNNNN.txt exactly as Asterisk wrote it (it must still carry the message's msg_id)."""
        parts, base, msg_id = self._place(message)
        with self._folder(parts) as folder_fd:
            return verify_msg_id(folder_fd, base, msg_id)

    def replace_with_placeholder(self, message: SpoolMessage, fmt: str, expected_sha256: str, *,
                                 durable: bool = True, swaps: Collection[str] | None = None) -> str:
        """Swap the recording for the placeholder if it still hashes to ``expected_sha256``.

        Returns "replaced" or "already"; SpoolChanged when something else lies there now. ``durable=False``:
        no fsync per file; the caller calls ``sync()`` once for a batch before it records the strips.
        ``swaps``: the folder's swap files as ``swap_files`` listed them (many strips in one folder).
        """
        parts, base, msg_id = self._place(message)
        check_audio_ext(fmt)
        placeholder_bytes(fmt)  # UnsupportedFormat before touching the disk
        with self._folder(parts) as folder_fd:
            return replace_recording(folder_fd, base, fmt, msg_id, expected_sha256, use_exchange=self._use_exchange,
                                     after_swap=self._after_swap, durable=durable, swaps=swaps)

    def swap_files(self, mailbox: MailboxRef, folder: str) -> frozenset[str]:
        """The names of the swap files an interrupted strip left in one folder (one listing), for
        ``replace_with_placeholder`` of many messages of that folder."""
        context, box = check_mailbox(mailbox)
        with self._folder((context, box, check_folder(folder))) as folder_fd:
            return frozenset(swap_names(folder_fd))

    def sync(self) -> None:
        """Make every change made in the spool so far durable (one syncfs of its file system)."""
        sync_filesystem(self._root)

    def clear_swap_leftovers(self, mailbox: MailboxRef, sealed_hashes: Callable[[], set[str]]) -> int:
        """Remove swap files an interrupted strip left in ``mailbox`` (older than the grace period) whose
        content is a placeholder or hashes to one of ``sealed_hashes()`` (the SHA-256 of every sealed,
        committed recording of the mailbox; asked for only when a leftover exists). Returns how many
        were removed; any other leftover stays and ``scan`` reports it."""
        context, box = check_mailbox(mailbox)
        cache: list[set[str]] = []

        def sealed(digest: str) -> bool:
            if not cache:
                cache.append(sealed_hashes())
            return digest in cache[0]

        removed = 0
        with self._mailbox_dir(context, box, []) as box_fd:
            if box_fd is None:
                return 0
            for folder in FOLDERS:
                try:
                    folder_fd = open_dir(box_fd, folder)
                except (FileNotFoundError, SpoolPathRefused):
                    continue
                try:
                    for swap in swap_names(folder_fd):
                        if self._swap_is_old(folder_fd, swap) and remove_if_held(folder_fd, swap, sealed):
                            removed += 1
                finally:
                    os.close(folder_fd)
        return removed

    def _swap_is_old(self, folder_fd: int, name: str) -> bool:
        try:
            st = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return self._clock() - max(st.st_mtime, st.st_ctime) >= self._grace

    def envelope_and_placeholders(self, message: SpoolMessage) -> tuple[bytes, bool]:
        """What discovery reads of a new message, in one look at its folder: the msgNNNN.txt exactly as
        Asterisk wrote it (as ``read_envelope_bytes``), and whether every audio format of the message is
        our placeholder (as ``is_placeholder`` for each; False for a format it does not know)."""
        parts, base, msg_id = self._place(message)
        with self._folder(parts) as folder_fd:
            data = verify_msg_id(folder_fd, base, msg_id)
            only = bool(message.audio)
            for audio in message.audio:
                try:
                    fmt = check_audio_ext(audio.fmt)
                    expected = placeholder_bytes(fmt)
                    head = read_capped(folder_fd, f"{base}.{fmt}", len(expected))
                except Exception:  # unknown, unreadable or gone: not a placeholder
                    only = False
                    break
                if not is_placeholder_bytes(fmt, head):
                    only = False
                    break
            if only:
                verify_msg_id(folder_fd, base, msg_id)  # the files read were this message's
        return data, only

    def is_placeholder(self, message: SpoolMessage, fmt: str) -> bool:
        """True when this message's ``fmt`` file is our placeholder; False when it is absent or audio."""
        parts, base, msg_id = self._place(message)
        check_audio_ext(fmt)
        expected = placeholder_bytes(fmt)
        with self._folder(parts) as folder_fd:
            verify_msg_id(folder_fd, base, msg_id)
            try:
                head = read_capped(folder_fd, f"{base}.{fmt}", len(expected))
            except FileNotFoundError:
                return False
            verify_msg_id(folder_fd, base, msg_id)
        return is_placeholder_bytes(fmt, head)

    @contextmanager
    def _folder(self, parts: tuple[str, str, str]) -> Iterator[int]:
        """The message's folder descriptor; anything gone from under us means "look again"."""
        try:
            with opened_dir(self._root, *parts) as folder_fd:
                yield folder_fd
        except FileNotFoundError:
            raise SpoolChanged("the message or its folder is gone; look again") from None
