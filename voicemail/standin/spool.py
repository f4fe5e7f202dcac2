"""app_voicemail's file storage, reproduced operation by operation (Asterisk 22, FILE_STORAGE).

What a client sees depends on app_voicemail's exact file logic, quirks included (captures q2, q2b, q8):

* counts (MailboxCount, VoicemailUserStatus, MWI) count ``msg*.txt`` files on disk every time;
* a new message gets the highest existing number + 1 (gaps stay);
* opening a folder (VoicemailBoxSummary, Move, Remove, Forward) renumbers it contiguously when the
  number of ``.txt`` files differs from the highest number + 1 ("Resequencing Mailbox") -- but only
  messages that have an audio file are renamed (``EXISTS`` looks for audio, not for the ``.txt``);
* Move copies then deletes, Remove deletes, and both delete only messages that have an audio file: a
  message whose audio is missing is duplicated by Move and survives Remove, while the reply still says
  "successful" (q8);
* every directory operation takes ``ast_lock_path``'s lock files (``.lock-XXXXXXXX`` linked to ``.lock``).

The functions are named after app_voicemail's (``open_mailbox``, ``close_mailbox``, ``vm_msg_move`` ...);
the file-level primitives are in ``spoolfs``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from voicemail.standin.config import StandinMailbox
from voicemail.standin.spoolfs import FOLDERS, SpoolFiles, folder_index, msg_name

log = logging.getLogger(__name__)


@dataclass
class Box:
    """``struct vm_state`` for one opened folder."""

    user: StandinMailbox
    index: int
    curdir: Path
    lastmsg: int
    deleted: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class BoxDetail:
    folder: str
    callerid: str
    origdate: str
    duration: str
    flag: str
    msg_id: str


class VoicemailSpool(SpoolFiles):
    """The manager-facing operations of app_voicemail on the spool."""

    # --- opening and closing folders (vm_state) ------------------------------------------------------

    def open_mailbox(self, user: StandinMailbox, index: int) -> Box:
        """``open_mailbox``: create the folder, count it, resequence when the count and numbering differ."""
        curdir = self.create_dirpath(user.context, user.mailbox, FOLDERS[index])
        count = self.count_messages(curdir)
        box = Box(user, index, curdir, count - 1)
        with self.locked(curdir):
            last = self.last_message_index(curdir)
        if last != box.lastmsg:
            log.info("standin: resequencing mailbox folder %s/%s/%s", user.context, user.mailbox, FOLDERS[index])
            self._resequence(curdir, count)
        return box

    def _resequence(self, curdir: Path, stopcount: int) -> None:
        with self.locked(curdir):
            dest = 0
            x = 0
            while dest != stopcount and x < self.maxmsg + 10:
                sfn = curdir / msg_name(x)
                if self.exists(sfn):
                    if x != dest:
                        self.rename_message_files(sfn, curdir / msg_name(dest))
                    dest += 1
                x += 1

    def close_mailbox(self, box: Box) -> None:
        """``close_mailbox``: renumber what stays, delete what was marked (both only with audio)."""
        if box.lastmsg <= -1:
            return
        with self.locked(box.curdir):
            last = self.last_message_index(box.curdir)
            curmsg = -1
            x = 0
            while x < last + 1:
                if x not in box.deleted:
                    sfn = box.curdir / msg_name(x)
                    if self.exists(sfn):
                        curmsg += 1
                        if curmsg != x:
                            self.rename_message_files(sfn, box.curdir / msg_name(curmsg))
                x += 1
            for n in range(curmsg + 1, last + 1):
                base = box.curdir / msg_name(n)
                if self.exists(base):
                    self.delete_message_files(base)

    def find_msg(self, box: Box, msg_id: str) -> int | None:
        """``message_range_and_existence_check`` for one id: its number, None if absent or unreadable."""
        for cur in range(box.lastmsg + 1):
            info = self.read_info(box.curdir / msg_name(cur))
            if info is None:
                return None
            other = info.get("msg_id", "")
            if other and other == msg_id:
                return cur
        return None

    def save_to_folder(self, box: Box, msg: int, target: int) -> bool:
        """``save_to_folder`` (move=0): copy the message to the next number of the target folder."""
        user = box.user
        ddir = self.create_dirpath(user.context, user.mailbox, FOLDERS[target])
        with self.locked(ddir):
            x = self.last_message_index(ddir) + 1
            if x >= self.maxmsg:
                return False
            sfn, dfn = box.curdir / msg_name(msg), ddir / msg_name(x)
            if sfn != dfn:
                self.copy_message_files(sfn, dfn)
        return True

    # --- the manager operations ----------------------------------------------------------------------

    def move(self, user: StandinMailbox, folder: str, msg_id: str, to_folder: str) -> bool:
        """``vm_msg_move`` for one message. True = "Message move successful"."""
        src, dst = folder_index(folder), folder_index(to_folder)
        if src < 0 or dst < 0:
            return False
        box = self.open_mailbox(user, src)
        num = self.find_msg(box, msg_id)
        if num is None:
            return False
        if not self.save_to_folder(box, num, dst):
            return False
        box.deleted.add(num)
        self.close_mailbox(box)
        return True

    def remove(self, user: StandinMailbox, folder: str, msg_id: str) -> bool:
        """``vm_msg_remove`` for one message. True = "Message remove successful"."""
        idx = folder_index(folder)
        if idx < 0:
            return False
        box = self.open_mailbox(user, idx)
        num = self.find_msg(box, msg_id)
        if num is None:
            return False
        box.deleted.add(num)
        self.close_mailbox(box)
        return True

    def forward(self, user: StandinMailbox, folder: str, msg_id: str, to_user: StandinMailbox,
                to_folder: str) -> bool:
        """``vm_msg_forward`` (delete_old=0) for one message. True = "Message forward successful"."""
        src, dst = folder_index(folder), folder_index(to_folder)
        if src < 0 or dst < 0:
            return False
        box = self.open_mailbox(user, src)
        num = self.find_msg(box, msg_id)
        if num is None:
            return False
        self._copy_message(box, num, to_user, FOLDERS[dst])
        self.close_mailbox(box)
        return True

    def _copy_message(self, box: Box, msg: int, recip: StandinMailbox, dest_folder: str) -> None:
        """``copy_message`` without a channel; a full recipient folder silently gets nothing."""
        todir = self.create_dirpath(recip.context, recip.mailbox, dest_folder)
        with self.locked(todir):
            num = self.last_message_index(todir) + 1
            if num >= self.maxmsg:
                log.warning("standin: recipient mailbox folder is full; message not forwarded")
                return
            sfn, dfn = box.curdir / msg_name(msg), todir / msg_name(num)
            self.copy_message_files(sfn, dfn)
            if not self.exists(sfn):
                self.delete_message_files(dfn)

    def snapshot(self, user: StandinMailbox) -> list[BoxDetail]:
        """``ast_vm_mailbox_snapshot_create`` over every folder, in folder then number order."""
        out: list[BoxDetail] = []
        for index, folder in enumerate(FOLDERS):
            box = self.open_mailbox(user, index)
            if box is None:
                continue
            for cur in range(box.lastmsg + 1):
                info = self.read_info(box.curdir / msg_name(cur))
                if info is None:
                    continue
                out.append(BoxDetail(folder, info.get("callerid", ""), info.get("origdate", ""),
                                     info.get("duration", ""), info.get("flag", ""), info.get("msg_id", "")))
        return out
