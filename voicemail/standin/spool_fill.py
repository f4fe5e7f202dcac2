"""Fill a spool with years of messages, written exactly as the stand-in's app_voicemail writes them.

Each message goes through ``SpoolFiles.begin_deposit`` / ``start_recording`` / ``finish_deposit`` (tmp
file, then rename into the folder under its lock, the next number), with a ``MessageInfo`` envelope and
audio rendered by ``voicemail.standin.audio``. Used by the import tests and bench/bench_import.py.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from voicemail.standin import audio
from voicemail.standin.config import StandinMailbox
from voicemail.standin.msginfo import MessageInfo
from voicemail.standin.spoolfs import SpoolFiles

YEAR = 365 * 24 * 3600
CALLERS = (('"Alice Internal" <1001>', "vm-internal"), ("+12025550123", "vm-from-trunk"), ("Unknown", "vm-from-trunk"))


@dataclass(frozen=True)
class Written:
    """One message written: its mailbox (``box@context``), msg_id and the bytes of each format."""

    mailbox: str
    msg_id: str
    audio: dict[str, bytes]


def mailbox_names(count: int, context: str = "default") -> list[StandinMailbox]:
    return [StandinMailbox(context, str(10000 + n)) for n in range(count)]


def fill_spool(root: Path, mailboxes: int, messages: int, *, extensions: tuple[str, ...] = ("wav",),
               seconds: float = 0.25, newest: int = 1_780_000_000, years: float = 3.0, seed: int = 1,
               keep: bool = False) -> Iterator[Written]:
    """Write ``messages`` spread round-robin over ``mailboxes`` (INBOX mostly, some Old), origtimes over
    the ``years`` before ``newest``. Yields each message written (its audio only with ``keep``)."""
    rng = random.Random(seed)
    Path(root).mkdir(parents=True, exist_ok=True)  # Asterisk's spool root exists before any message
    spool = SpoolFiles(root, extensions, maxmsg=9999)
    users = mailbox_names(mailboxes)
    samples = int(8000 * seconds)
    for n in range(messages):
        user = users[n % len(users)]
        folder = "Old" if rng.random() < 0.3 else "INBOX"
        origtime = newest - int(rng.random() * years * YEAR)
        msg_id = f"{origtime}-{n:08x}"
        callerid, context = CALLERS[n % len(CALLERS)]
        pcm = rng.randbytes(samples * 2)
        files = {ext: audio.render(ext, pcm) for ext in extensions}
        info = MessageInfo(origmailbox=user.mailbox, context=context, exten=user.mailbox, priority=1,
                           callerchan=f"PJSIP/trunk-{n:08x}", callerid=callerid, origtime=origtime,
                           msg_id=msg_id, flag="", duration=max(1, int(seconds)))
        dep = spool.begin_deposit(user, folder)
        spool.start_recording(dep)
        spool.finish_deposit(dep, info.render(), files)
        yield Written(f"{user.mailbox}@{user.context}", msg_id, files if keep else {})
