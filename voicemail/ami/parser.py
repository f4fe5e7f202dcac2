"""A pure AMI parser: bytes in, messages out. No sockets, no clocks, no logging.

Framing follows what a real Asterisk 22 sends (see ``asterisk-captures``):

* the first line of a client connection is the banner (``Asterisk Call Manager/11.0.0``) with a
  single CRLF and no blank line after it;
* every message is ``Key: Value`` lines joined by CRLF and ended by an empty line (CRLF CRLF);
* values may contain a bare LF (``Message: Message move successful\\n`` in VoicemailMove/Remove
  replies), so a client splits on CRLF only;
* bytes are decoded per run of complete messages, so a UTF-8 character split across reads stays intact.

A server (our Asterisk stand-in) parses client actions with ``lf_lines=True``: Asterisk accepts
lines ended by a bare LF from clients as well.

Speed: a client sees thousands of events a second (CEL, Newexten, VarSet ...) and looks at most of
them only long enough to read ``Event`` or ``ActionID``. So the client-side parser frames messages and
keeps each one's text; ``AmiMessage.get`` answers from that text with string searches when it can
prove the answer equals the full parse, and the full header tuple is built once, on first need.
``bench/bench_ami_parser.py`` measures both paths.
"""

from __future__ import annotations

from collections.abc import Iterator

MAX_MESSAGE_BYTES = 1 << 20  # a peer that sends more than this without a blank line is broken

Headers = tuple[tuple[str, str], ...]


class AmiProtocolError(Exception):
    """The peer broke the framing (e.g. an endless message). The connection should be closed.

    ``messages`` holds the messages completed by the same ``feed`` call before the fault.
    """

    def __init__(self, text: str, messages: list[AmiMessage] | None = None) -> None:
        super().__init__(text)
        self.messages: list[AmiMessage] = messages or []


# Header lines repeat a great deal (``Privilege: call,all``, ``SystemName: ...``, ``ChannelState: 6``;
# in the captures 3,062 distinct lines make up 143,364), so parsed lines are kept for reuse. Bounded:
# emptied when full. Values are immutable, so sharing them changes nothing for callers.
_LINE_CACHE: dict[str, tuple[str, str]] = {}
_LINE_CACHE_MAX = 8192


def clear_line_cache() -> None:
    """Forget every cached header line (benchmarks use this to measure a cold start)."""
    _LINE_CACHE.clear()


def _parse_line(line: str) -> tuple[str, str]:
    """One non-empty CRLF-delimited line: ``Key: Value`` split at the first colon."""
    key, sep, value = line.partition(":")
    if not sep:
        pair = ("", line.rstrip("\n"))  # tolerated: kept, never guessed at
    else:
        pair = (key.strip(), (value[1:] if value[:1] == " " else value).rstrip("\r\n"))
    if len(_LINE_CACHE) >= _LINE_CACHE_MAX:
        _LINE_CACHE.clear()
    _LINE_CACHE[line] = pair
    return pair


def _parse_headers(text: str) -> Headers:
    """Lines split on CRLF only; empty lines skipped; each line parsed on its own."""
    cached = _LINE_CACHE.get
    return tuple([cached(line) or _parse_line(line) for line in text.split("\r\n") if line])


_SIMPLE_NAMES: dict[str, str] = {}


def _simple_name(name: str) -> str | None:
    """``name.lower()`` when ``name`` can be searched for as text (ASCII, no colon, no space)."""
    low = _SIMPLE_NAMES.get(name)
    if low is None:
        if not name or not name.isascii() or not name.isprintable() or ":" in name or " " in name:
            return None
        low = name.lower()
        if len(_SIMPLE_NAMES) < 512:
            _SIMPLE_NAMES[name] = low
    return low


_new = object.__new__


class AmiMessage:
    """One AMI message: ordered headers (names may repeat, e.g. ``Output``). Read-only.

    ``AmiMessage(headers)`` builds one from headers; the parser builds them from their text and
    parses the headers on first need.
    """

    __slots__ = ("_headers", "_lower", "_raw")
    _headers: Headers | None
    _lower: str | None
    _raw: str | None

    def __init__(self, headers: Headers | list[tuple[str, str]]) -> None:
        self._headers = tuple((k, v) for k, v in headers)
        self._raw = None
        self._lower = None

    @classmethod
    def _from_text(cls, text: str) -> AmiMessage:
        msg = _new(cls)
        msg._raw = text
        msg._headers = None
        msg._lower = None
        return msg

    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            headers = _parse_headers(self._raw or "")
            self._headers = headers
        return headers

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AmiMessage):
            return NotImplemented
        return self.headers == other.headers

    def __hash__(self) -> int:
        return hash(self.headers)

    def __repr__(self) -> str:
        return f"AmiMessage(headers={self.headers!r})"

    def __reduce__(self) -> tuple[type[AmiMessage], tuple[Headers]]:
        return (AmiMessage, (self.headers,))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first header called ``name`` (case-insensitive), else ``default``."""
        raw = self._raw
        if raw is not None and self._headers is None:
            low_name = _simple_name(name)
            if low_name is not None:
                known, found = self._search(raw, name, low_name)
                if known:
                    return default if found is None else found
        low = name.lower()
        for key, value in self.headers:
            if key.lower() == low:
                return value
        return default

    def _search(self, raw: str, name: str, low_name: str) -> tuple[bool, str | None]:
        """Find the header in the text: (True, value or None), or (False, None) when only a full
        parse can tell.

        A header line ``Name: value`` found by exact text is the first header of that name when the
        lower-cased text before it does not contain the lower-cased name at all (a differently
        spelled ``NAME :`` line earlier would contain it). Absent everywhere means absent.
        """
        probe = name + ": "
        if raw.startswith(probe):
            start = len(probe)
        else:
            at = raw.find("\r\n" + probe)
            lower = self._lower
            if lower is None:
                lower = raw.lower()
                self._lower = lower
            if len(lower) != len(raw):  # lower-casing changed lengths: offsets do not line up
                return False, None
            if at < 0:
                return low_name not in lower, None
            if lower.find(low_name, 0, at) >= 0:
                return False, None
            start = at + 2 + len(probe)
        end = raw.find("\r\n", start)
        value = raw[start:] if end < 0 else raw[start:end]
        return True, value.rstrip("\r\n")

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
    return AmiMessage(_parse_headers(text))


class AmiParser:
    """Incremental parser. ``feed`` returns every message completed by the new bytes."""

    def __init__(self, *, expect_banner: bool = True, lf_lines: bool = False,
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buf = bytearray()
        # Bytes of _buf already searched for CRLF CRLF; the next search starts 3 bytes before, in case
        # a terminator straddles two reads. A block between two terminators holds no headers only
        # when it is empty or a lone CRLF; those are dropped.
        self._scanned = 0
        self._want_banner = expect_banner
        self._lf = lf_lines
        self._max = max_message_bytes
        self.banner: str | None = None

    def feed(self, data: bytes) -> list[AmiMessage]:
        buf = self._buf
        buf += data
        if self._want_banner or self._lf:
            return self._feed_slow()
        scanned = self._scanned
        end = buf.rfind(b"\r\n\r\n", scanned - 3 if scanned > 3 else 0)
        if end < 0:
            self._scanned = size = len(buf)
            if size > self._max:
                self._oversize([])
            return []
        # Everything before the last terminator is whole messages; the terminator is ASCII, so the
        # cut never falls inside a UTF-8 character and one decode serves them all.
        text = buf[:end].decode("utf-8", "replace")
        del buf[: end + 4]
        self._scanned = len(buf)  # what is left holds no terminator
        make = AmiMessage._from_text
        out = [make(block) for block in text.split("\r\n\r\n") if block and block != "\r\n"]
        if self._scanned > self._max:
            self._oversize(out)
        return out

    def _feed_slow(self) -> list[AmiMessage]:
        out: list[AmiMessage] = []
        if self._want_banner:
            end = self._buf.find(b"\r\n")
            if end < 0:
                if len(self._buf) > self._max:
                    self._oversize(out)
                return out
            self.banner = self._buf[:end].decode("utf-8", "replace")
            del self._buf[: end + 2]
            self._want_banner = False
            if not self._lf:
                return self.feed(b"")
        out.extend(self._lf_messages())
        if len(self._buf) > self._max:
            self._oversize(out)
        return out

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

    def _oversize(self, done: list[AmiMessage]) -> None:
        self._buf.clear()
        self._scanned = 0
        raise AmiProtocolError(f"AMI message larger than {self._max} bytes without a terminator", done)


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
