"""Replay a recorded Asterisk AMI session against a live AMI server and report every reply whose shape differs.

    python -m voicemail.standin.conformance CAPTURE.ami.txt [--host 127.0.0.1] [--port 5038]
        [--username lab] [--secret labsecret] [--settle 14]

The captures (``tests/fixtures/asterisk-captures``) were recorded from a real Asterisk 22.10.1. This
sends the capture's actions, in the same order, to HOST:PORT (an Asterisk, or our stand-in) and compares
the *shape* of what comes back with the recording:

* the banner line;
* per ActionID, the list of replies (response, list items, ``EventList: Complete``): for each, its set
  of header names and the values of the stable headers (``STABLE``); a Cdr's ``Duration`` depends on
  timing and is not compared;
* the key protocol events without an ActionID (``KEY_EVENTS``: MessageWaiting, OriginateResponse,
  AsyncAGIStart/Exec/End, Cdr, VoicemailPasswordChange), counted per shape over the whole session.

Values that change from run to run (Uniqueid, times, session ids, channel numbers) are not compared. A
channel named in the n-th AsyncAGIStart of the recording is the live channel of the n-th live
AsyncAGIStart, so AGI actions reach the live channel. The Login action is sent with ``--username`` and
``--secret``. After an Originate the replayer listens for ``--settle`` seconds; after any other action
until its answer is complete (at most 12 s), then 0.3 s more; at the end 2 s more.

The server must start in the state the capture started in: q1, q1b and q4 start from a fresh server
with an empty spool and the lab's mailboxes (``lab-environment.txt``).

Exit status: 0 when every compared reply matches, 1 otherwise (each difference is printed).
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from voicemail.ami.parser import AmiMessage, AmiParser, encode_message

STABLE = frozenset({
    "Response", "Message", "EventList", "Event", "Mailbox", "Waiting", "New", "Old", "NewMessages",
    "OldMessages", "UrgMessages", "Folder", "Flag", "Duration", "VoiceMailbox", "VMContext", "Fullname",
    "Email", "ListItems", "Result", "SubEvent", "Status", "Disposition", "LastApplication",
    "DestinationContext", "CallerID", "CallerIDNum", "CallerIDName", "NewMessageCount", "OldMessageCount"})
KEY_EVENTS = frozenset({"MessageWaiting", "OriginateResponse", "AsyncAGIStart", "AsyncAGIExec", "AsyncAGIEnd",
                        "Cdr", "VoicemailPasswordChange"})
ANSWER_SECONDS = 12.0  # the longest an action's answer may take
AFTER_ANSWER_SECONDS = 0.3  # events that trail an answer
FINAL_SECONDS = 2.0  # events that trail the last action

Fields = dict[str, str]  # one message: the first value of each header, names as sent
Shape = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]


def fields(message: AmiMessage) -> Fields:
    """The first value of each named header (a line without a header name is not a header)."""
    return {name: value for name, value in message.as_dict().items() if name}


def shape(message: Fields) -> Shape:
    """What must match: the header names, and the stripped values of the stable headers."""
    stable = STABLE - {"Duration"} if message.get("Event") == "Cdr" else STABLE
    return (tuple(sorted(message)),
            tuple(sorted((name, value.strip()) for name, value in message.items() if name in stable)))


def read_capture(raw: bytes) -> tuple[str, list[Fields]]:
    """A recorded session (``.ami.txt``: banner, then actions and replies as they crossed the wire)."""
    parser = AmiParser()
    messages = parser.feed(raw if raw.endswith(b"\r\n\r\n") else raw + b"\r\n\r\n")
    return parser.banner or "", [fields(m) for m in messages]


def rounds(messages: Sequence[Fields]) -> Iterator[tuple[Fields, list[Fields]]]:
    """(action, what the recording holds after it up to the next action), in order."""
    action: Fields | None = None
    replies: list[Fields] = []
    for message in messages:
        if "Action" in message:
            if action is not None:
                yield action, replies
            action, replies = message, []
        elif action is not None:
            replies.append(message)
    if action is not None:
        yield action, replies


def answered(action: Fields) -> Callable[[list[Fields]], bool]:
    """Has the server finished answering this action? (an AGI command: its AsyncAGIExec; a list: its
    ``EventList: Complete``; anything else: its response)."""
    action_id, command_id = action.get("ActionID", ""), action.get("CommandID")

    def done(got: list[Fields]) -> bool:
        if command_id:
            return any(m.get("Event") == "AsyncAGIExec" and m.get("CommandId") == command_id for m in got)
        own = [m for m in got if m.get("ActionID") == action_id]
        if not own:
            return False
        if own[0].get("EventList") == "start":
            return any(m.get("EventList") == "Complete" for m in own[1:])
        return True
    return done


def differences(recorded_banner: str, live_banner: str, actions: Sequence[Fields],
                recorded: Sequence[Fields], live: Sequence[Fields]) -> list[str]:
    """Every difference in shape between a recorded session and its live replay."""
    found: list[str] = []
    if live_banner != recorded_banner:
        found.append(f"banner: recorded {recorded_banner!r}, live {live_banner!r}")
    for action in actions:
        action_id = action.get("ActionID", "")
        want = [shape(m) for m in recorded if m.get("ActionID") == action_id]
        got = [shape(m) for m in live if m.get("ActionID") == action_id]
        if want != got:
            found.append(f"{action.get('Action')} ({action_id}): reply differs\n"
                         f"  recorded: {want}\n  live:     {got}")
    want_events, got_events = _key_events(recorded), _key_events(live)
    for event in sorted(set(want_events) | set(got_events)):
        if want_events[event] != got_events[event]:
            found.append(f"event {dict(event[1]).get('Event')}: recorded {want_events[event]}×, "
                         f"live {got_events[event]}×  {event[1]}")
    return found


def _key_events(messages: Sequence[Fields]) -> Counter[Shape]:
    return Counter(shape(m) for m in messages if m.get("Event") in KEY_EVENTS and "ActionID" not in m)


class LiveSession:
    """One AMI connection: the banner, then messages sent and collected with deadlines."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._parser = AmiParser()
        self._pending: list[Fields] = []
        while self._parser.banner is None:
            chunk = self._sock.recv(4096)
            if not chunk:
                break
            self._pending += [fields(m) for m in self._parser.feed(chunk)]
        self.banner = self._parser.banner or ""
        self._sock.settimeout(0.2)

    def send(self, action: Fields) -> None:
        self._sock.sendall(encode_message(list(action.items())))

    def collect(self, seconds: float, until: Callable[[list[Fields]], bool] | None = None) -> list[Fields]:
        """What arrives within ``seconds``; stops early once ``until(what arrived so far)`` is true."""
        deadline = time.monotonic() + seconds
        got, self._pending = self._pending, []
        while time.monotonic() < deadline:
            if until is not None and got and until(got):
                break
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            got += [fields(m) for m in self._parser.feed(chunk)]
        return got

    def close(self) -> None:
        self._sock.close()


@dataclass
class Report:
    actions: int = 0
    differences: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [*self.differences, f"{self.actions} actions replayed, {len(self.differences)} differences"]


def replay(capture: Path, *, host: str = "127.0.0.1", port: int = 5038, username: str = "lab",
           secret: str = "labsecret", settle: float = 14.0) -> Report:  # noqa: S107 - the lab's login
    """Replay ``capture``'s actions against the server at host:port and compare the shapes."""
    banner, messages = read_capture(capture.read_bytes())
    live = LiveSession(host, port)
    try:
        channels: dict[str, str] = {}
        actions: list[Fields] = []
        recorded: list[Fields] = []
        got: list[Fields] = []
        for action, replies in rounds(messages):
            actions.append(action)
            recorded += replies
            sent = dict(action)
            if sent.get("Action") == "Login":
                sent["Username"], sent["Secret"] = username, secret
            if sent.get("Channel") in channels:
                sent["Channel"] = channels[sent["Channel"]]
            live.send(sent)
            if sent.get("Action") == "Originate":
                got += live.collect(settle)
            else:
                got += live.collect(ANSWER_SECONDS, until=answered(sent))
                got += live.collect(AFTER_ANSWER_SECONDS)
            channels.update(zip(_agi_channels(recorded), _agi_channels(got), strict=False))
        got += live.collect(FINAL_SECONDS)
    finally:
        live.close()
    return Report(actions=len(actions), differences=differences(banner, live.banner, actions, recorded, got))


def _agi_channels(messages: Sequence[Fields]) -> list[str]:
    return [m.get("Channel", "") for m in messages if m.get("Event") == "AsyncAGIStart"]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m voicemail.standin.conformance",
                                 description="Replay a recorded Asterisk AMI session against a live AMI server "
                                             "and report every reply whose shape differs.")
    ap.add_argument("capture", type=Path, help="a recorded session, e.g. q1-voicemail-session.ami.txt")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5038)
    ap.add_argument("--username", default="lab")
    ap.add_argument("--secret", default="labsecret")
    ap.add_argument("--settle", type=float, default=14.0,
                    help="seconds to listen after an Originate (a lab message takes about 11 s)")
    args = ap.parse_args(argv)
    report = replay(args.capture, host=args.host, port=args.port, username=args.username, secret=args.secret,
                    settle=args.settle)
    print("\n".join(report.lines()))
    return 1 if report.differences else 0


if __name__ == "__main__":
    sys.exit(main())
