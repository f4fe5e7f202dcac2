"""Channels of a Local pair, their identifiers, and Asterisk's caller-id string rules.

Names and ids follow the captures: ``Local/play@vmlab-00000000;1`` (a hex counter shared by every
Local channel), ``Uniqueid: astlab-<epoch>.<n>`` (a counter shared by every channel), ``Linkedid`` = the
``;1`` half's Uniqueid.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from voicemail.standin.config import SYSTEM_NAME

STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
_PHONE_CHARS = set("0123456789*#+")


@dataclass
class Party:
    """A caller id: number and name; None when not set (shown as ``<unknown>`` in snapshots)."""

    num: str | None = None
    name: str | None = None

    def copy(self) -> Party:
        return Party(self.num, self.name)

    @property
    def is_set(self) -> bool:
        return bool(self.num) or bool(self.name)


def _strip_quoted(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    return text


def shrink_phone_number(text: str) -> str:
    """``ast_shrink_phone_number``: drop the dialling punctuation ``( ) - .`` and blanks."""
    return "".join(c for c in text if c not in "()-. \t")


def parse_callerid(text: str) -> Party:
    """``ast_callerid_parse`` as Originate applies it: ``"Name" <num>``, ``Name <num>``, ``num``, ``Name``."""
    raw = text.strip()
    stripped = _strip_quoted(raw)
    quotes_stripped = stripped != raw
    name: str | None
    num: str | None
    lt = stripped.rfind("<")
    if lt >= 0:
        rest = stripped[lt + 1:]
        gt = rest.rfind(">")
        num = rest[:gt] if gt >= 0 else rest
        name = _strip_quoted(stripped[:lt])
    else:
        tmp = shrink_phone_number(stripped)
        if not quotes_stripped and tmp and set(tmp) <= _PHONE_CHARS:
            name, num = None, tmp
        else:
            name, num = _strip_quoted(stripped), None
    if name is not None:
        name = name.replace('\\"', '"').replace("\\\\", "\\")
    if num is not None:
        num = shrink_phone_number(num)
    return Party(num or None, name or None)


def merge_callerid(name: str | None, num: str | None, unknown: str) -> str:
    """``ast_callerid_merge``: ``"name" <num>``, or the one that is set, or ``unknown``."""
    if name is not None and num is not None:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{num}>'
    if name is not None:
        return name
    if num is not None:
        return num
    return unknown


def split_callerid(text: str) -> tuple[str, str]:
    """``ast_callerid_split`` (used on the callerid= line of a message file): (name, number)."""
    party = parse_callerid(text)
    return party.name or "", party.num or ""


@dataclass
class Channel:
    """One half of a Local pair, with the state its snapshot events show."""

    name: str
    uniqueid: str
    linkedid: str
    side: int
    device: str
    context: str
    exten: str
    created: float
    priority: int = 1
    state: int = 0
    caller: Party = field(default_factory=Party)
    connected: Party = field(default_factory=Party)
    ani: str = ""
    app: str = ""
    appdata: str = ""
    cel_app: tuple[str, str] | None = None
    cdr_app: tuple[str, str] = ("", "")
    answered: float | None = None
    hungup: bool = False
    variables: dict[str, str] = field(default_factory=dict)

    def snapshot(self, prefix: str = "") -> list[tuple[str, str]]:
        """The channel snapshot block every channel event carries (optionally prefixed)."""
        return [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(self.state)),
            (f"{prefix}ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (f"{prefix}CallerIDNum", self.caller.num or "<unknown>"),
            (f"{prefix}CallerIDName", self.caller.name or "<unknown>"),
            (f"{prefix}ConnectedLineNum", self.connected.num or "<unknown>"),
            (f"{prefix}ConnectedLineName", self.connected.name or "<unknown>"),
            (f"{prefix}Language", "en"),
            (f"{prefix}AccountCode", ""),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
        ]


class Ids:
    """Counters that live as long as the stand-in process, like Asterisk's."""

    def __init__(self, system_name: str = SYSTEM_NAME) -> None:
        self._system = system_name
        self._local = itertools.count()
        self._unique = itertools.count()
        self._msg = itertools.count()

    def local_suffix(self) -> str:
        return f"{next(self._local):08x}"

    def uniqueid(self, now: float) -> str:
        return f"{self._system}-{int(now)}.{next(self._unique)}"

    def msg_id(self, origtime: int) -> str:
        return f"{origtime}-{next(self._msg):08x}"
