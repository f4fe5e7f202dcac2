"""A pure AMI parser: bytes in, messages out. No sockets, no clocks, no logging.

Framing follows what a real Asterisk 22 sends (see ``asterisk-captures``):

* the first line of a client connection is the banner (``Asterisk Call Manager/11.0.0``) with a
  single CRLF and no blank line after it;
* every message is ``Key: Value`` lines joined by CRLF and ended by an empty line (CRLF CRLF);
* values may contain a bare LF (``Message: Message move successful\\n`` in VoicemailMove/Remove
  replies), so a client splits on CRLF only;
* bytes are decoded per complete message, so a UTF-8 character split across reads stays intact.

A server (our Asterisk stand-in) parses client actions with ``lf_lines=True``: Asterisk accepts
lines ended by a bare LF from clients as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

MAX_MESSAGE_BYTES = 1 << 20  # a peer that sends more than this without a blank line is broken


class AmiProtocolError(Exception):
    """The peer broke the framing (e.g. an endless message). The connection should be closed."""


@dataclass(frozen=True)
class AmiMessage:
    """One AMI message: ordered headers (names may repeat, e.g. ``Output``)."""

    headers: tuple[tuple[str, str], ...]

    def get(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        for key, value in self.headers:
            if key.lower() == low:
                return value
        return default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get_all(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.headers if k.lower() == low]

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action(self) -> str | None:
        return self.get("Action")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def as_dict(self) -> dict[str, str]:
        """First value of each header (the view most callers want)."""
        out: dict[str, str] = {}
        for key, value in self.headers:
            out.setdefault(key, value)
        return out


def parse_block(text: str) -> AmiMessage:
    """Parse the text of one message (without its terminating blank line)."""
    headers: list[tuple[str, str]] = []
    for line in text.split("\r\n"):
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            headers.append(("", line.rstrip("\n")))  # tolerated: kept, never guessed at
            continue
        if value.startswith(" "):
            value = value[1:]
        headers.append((key.strip(), value.rstrip("\r\n")))
    return AmiMessage(tuple(headers))


class AmiParser:
    """Incremental parser. ``feed`` returns every message completed by the new bytes."""

    def __init__(self, *, expect_banner: bool = True, lf_lines: bool = False,
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buf = bytearray()
        self._want_banner = expect_banner
        self._lf = lf_lines
        self._max = max_message_bytes
        self.banner: str | None = None

    def feed(self, data: bytes) -> list[AmiMessage]:
        self._buf += data
        out: list[AmiMessage] = []
        if self._want_banner:
            end = self._buf.find(b"\r\n")
            if end < 0:
                self._check_size()
                return out
            self.banner = self._buf[:end].decode("utf-8", "replace")
            del self._buf[: end + 2]
            self._want_banner = False
        out.extend(self._messages())
        self._check_size()
        return out

    def _messages(self) -> Iterator[AmiMessage]:
        if self._lf:
            yield from self._lf_messages()
            return
        start = 0
        buf = self._buf
        while True:
            end = buf.find(b"\r\n\r\n", start)
            if end < 0:
                break
            block = bytes(buf[start:end])
            start = end + 4
            msg = parse_block(block.decode("utf-8", "replace"))
            if msg.headers:
                yield msg
        del self._buf[:start]

    def _lf_messages(self) -> Iterator[AmiMessage]:
        lines: list[str] = []
        consumed = 0
        pos = 0
        buf = self._buf
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                break
            line = bytes(buf[pos:nl]).rstrip(b"\r")
            pos = nl + 1
            if line:
                lines.append(line.decode("utf-8", "replace"))
                continue
            if lines:
                yield parse_block("\r\n".join(lines))
                lines = []
            consumed = pos
        del self._buf[:consumed]

    def _check_size(self) -> None:
        if len(self._buf) > self._max:
            self._buf.clear()
            raise AmiProtocolError(f"AMI message larger than {self._max} bytes without a terminator")


class UnsafeValue(ValueError):
    """A header name or value that would break AMI framing (CR, LF or NUL)."""


_FORBIDDEN = ("\r", "\n", "\x00")


def encode_message(headers: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> bytes:
    """Serialise headers as one AMI message. Refuses CR, LF or NUL anywhere, before any byte is made."""
    parts: list[str] = []
    for key, value in headers:
        if not key or ":" in key or any(c in key for c in _FORBIDDEN) or key != key.strip():
            raise UnsafeValue(f"unsafe AMI header name {key[:40]!r}")
        if any(c in value for c in _FORBIDDEN):
            raise UnsafeValue(f"unsafe value for AMI header {key!r} (CR, LF or NUL)")
        parts.append(f"{key}: {value}\r\n")
    return ("".join(parts) + "\r\n").encode("utf-8")
