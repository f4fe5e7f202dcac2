"""Configuration of the Asterisk stand-in: mailboxes, credentials, formats, timing.

The defaults reproduce the reference lab of ``asterisk-captures/lab-environment.txt`` (Asterisk 22.10.1,
``systemname = astlab``, voicemail context ``default`` with 1001/1002/2001, ``format = wav``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from voicemail.domain.errors import ConfigError

# Values of the lab that every reply or event carries (lab-environment.txt).
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
SYSTEM_NAME = "astlab"
ASTERISK_VERSION = "22.10.1"
VERSION_LINE = "Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-11-29 18:48:34 UTC"
SERVER_EMAIL = "asterisk@lab.test"
FROM_STRING = "Lab Voicemail"
MAIL_COMMAND = "/usr/local/bin/mailcmd-log.sh"
LAB_PROMPT = "custom/lab-message"

# voicemail.conf ``format`` names -> the file extension app_voicemail writes for them.
FORMAT_EXTENSIONS = {"wav": "wav", "wav49": "WAV", "WAV": "WAV"}
TIMINGS = ("lab", "fast")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,79}$")


@dataclass(frozen=True)
class StandinMailbox:
    """One ``voicemail.conf`` entry: ``mailbox => password,full name,email``."""

    context: str
    mailbox: str
    password: str = "4242"  # noqa: S105 - the lab mailbox PIN (lab-environment.txt)
    fullname: str = ""
    email: str | None = None

    @property
    def ident(self) -> str:
        return f"{self.mailbox}@{self.context}"


LAB_MAILBOXES: tuple[StandinMailbox, ...] = (
    StandinMailbox("default", "1001", "4242", "Alice Internal", "alice@example.test"),
    StandinMailbox("default", "1002", "4242", "Bob Internal"),
    StandinMailbox("default", "2001", "4242", "Carol"),
)


@dataclass(frozen=True)
class StandinConfig:
    """Where the spool lives, where AMI listens, who may log in, how app_voicemail is configured.

    ``spool_dir`` is the ``.../voicemail`` directory (it holds ``<context>/<mailbox>/<folder>``).
    ``formats``: voicemail.conf ``format`` entries in order (``"wav"``, ``"wav49"``).
    ``timing``: ``"lab"`` (calls last as long as in the captures, ~11 s a message) or ``"fast"``
    (the same events in the same order, media shortened to ~1 %).
    ``callers``: scripted phones that call the voicemail menu, ``{"x123": "Wait(2.4),SendDTMF(4242#),
    Wait(60),Hangup"}``, addressed as ``Local/x123@vmphone/n`` (NoOp and Answer run first).
    ``phones``: scripted phones that "play on my phone" calls, ``{"desk": "Ringing,Wait(3),Answer,
    Wait(30),Hangup"}``, addressed as ``Local/desk@phonesim/n``.
    ``sounds_dir``: extra stock prompts (``<sounds_dir>/<name>.wav``) that STREAM FILE finds by name.
    ``file_root``: absolute file names in AGI commands and Playback (sounds to play, RECORD FILE targets)
    are taken under this directory, as for an Asterisk installed under a prefix (the captures' paths
    were normalised that way); None: as given.
    """

    spool_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    username: str = "lab"
    secret: str = "labsecret"  # noqa: S105 - the lab AMI secret (lab-environment.txt)
    mailboxes: tuple[StandinMailbox, ...] = LAB_MAILBOXES
    formats: tuple[str, ...] = ("wav",)
    timing: str = "fast"
    maxmsg: int = 100
    callers: Mapping[str, str] = field(default_factory=dict, hash=False)
    phones: Mapping[str, str] = field(default_factory=dict, hash=False)
    sounds_dir: Path | None = None
    file_root: Path | None = None

    def validated(self) -> StandinConfig:
        """Raise ConfigError naming the first bad setting; return self."""
        if self.timing not in TIMINGS:
            raise ConfigError(f"standin timing must be one of {TIMINGS}, not {self.timing!r}")
        if not self.formats:
            raise ConfigError("standin formats must name at least one format")
        for fmt in self.formats:
            if fmt not in FORMAT_EXTENSIONS:
                raise ConfigError(f"standin format {fmt!r} is not supported (use wav, wav49)")
        if not 1 <= self.maxmsg <= 9999:
            raise ConfigError("standin maxmsg must be between 1 and 9999")
        if not 0 <= self.port <= 65535:
            raise ConfigError("standin port must be between 0 and 65535")
        if not self.username or not self.secret:
            raise ConfigError("standin username and secret must not be empty")
        from voicemail.standin.steps import parse_steps

        for kind, scripts in (("caller", self.callers), ("phone", self.phones)):
            for name, script in scripts.items():
                if not _NAME.match(name) or name in (".", ".."):
                    raise ConfigError(f"standin {kind} name {name[:40]!r} is not a plain name")
                parse_steps(script)
        seen: set[tuple[str, str]] = set()
        for box in self.mailboxes:
            for label, value in (("context", box.context), ("mailbox", box.mailbox)):
                if not _NAME.match(value) or value in (".", ".."):
                    raise ConfigError(f"standin mailbox {label} {value[:40]!r} is not a plain name")
            if any(c in box.fullname for c in "\r\n\x00") or any(c in (box.email or "") for c in "\r\n\x00"):
                raise ConfigError(f"standin mailbox {box.ident}: name and email may not contain line breaks")
            if (box.context, box.mailbox) in seen:
                raise ConfigError(f"standin mailbox {box.ident} is configured twice")
            seen.add((box.context, box.mailbox))
        return self

    @property
    def extensions(self) -> tuple[str, ...]:
        """The audio file extensions written for each message, in ``formats`` order (no duplicates)."""
        out: list[str] = []
        for fmt in self.formats:
            ext = FORMAT_EXTENSIONS[fmt]
            if ext not in out:
                out.append(ext)
        return tuple(out)


def is_plain_name(value: str) -> bool:
    """A context or mailbox name that cannot walk out of the spool (no '/', no '..')."""
    return bool(_NAME.match(value)) and value not in (".", "..")
