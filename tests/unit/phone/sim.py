"""A scripted telephone for the pure menu: each AGI command gets the reply Asterisk would give
(replies as in captures q9/q9b/q9c), and the menu's requests are answered by a small in-memory mailbox."""

from __future__ import annotations

from dataclasses import dataclass, field

from voicemail.phone import effects as fx
from voicemail.phone.agi import parse_reply
from voicemail.phone.dialog import Flow


def key(k: str) -> str:
    """An interrupting key: result = its ASCII code (q9 msg-play: '7' -> 55)."""
    return f"200 result={ord(k)} endpos=8000"


HANGUP = "200 result=-1 endpos=32000"  # q9b: the caller hung up during STREAM FILE
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
TIMEOUT = "200 result= (timeout)"  # q9c b-pin


def digits(d: str) -> str:
    return f"200 result={d}"


@dataclass
class Mailbox:
    pin: str = "4242"
    new: list[fx.MessageInfo] = field(default_factory=list)
    old: list[fx.MessageInfo] = field(default_factory=list)
    greetings: set[str] = field(default_factory=set)
    staged: set[str] = field(default_factory=set)
    recording: set[str] = field(default_factory=set)
    requests: list[object] = field(default_factory=list)

    def answer(self, req: object) -> object:
        self.requests.append(req)
        if isinstance(req, fx.Login):
            ok = req.mailbox in ("1001", "1001@default") and req.pin == self.pin
            return fx.LoginOutcome(ok, "America/New_York", tuple(self.new), tuple(self.old)) if ok else \
                fx.LoginOutcome(False)
        if isinstance(req, fx.ListMessages):
            return tuple(self.new if req.folder == "INBOX" else self.old)
        if isinstance(req, fx.Stage):
            self.staged.add(req.message_id)
            return f"/run/voicemail-stage/vmmenu-{req.message_id}"
        if isinstance(req, fx.Unstage):
            self.staged.discard(req.message_id)
            return None
        if isinstance(req, fx.Heard):
            return None
        if isinstance(req, fx.Save):
            return True
        if isinstance(req, fx.Delete):
            return True
        if isinstance(req, fx.CheckNewPin):
            return None if len(req.pin) >= 6 and len(set(req.pin)) > 1 else "too easy"
        if isinstance(req, fx.ChangePin):
            self.pin = req.pin
            return True
        if isinstance(req, fx.RecordTarget):
            self.recording.add(req.greeting)
            return f"/var/spool/asterisk/voicemail/default/1001/vmmenu-{req.greeting}-x"
        if isinstance(req, fx.KeepGreeting):
            self.recording.discard(req.greeting)
            self.greetings.add(req.greeting)
            return True
        if isinstance(req, fx.GreetingExists):
            return req.greeting in self.greetings
        if isinstance(req, fx.RemoveGreeting):
            self.greetings.discard(req.greeting)
            return True
        raise AssertionError(f"unexpected request {req!r}")


@dataclass
class Call:
    """The commands the menu sent, in order, and whether it ended by itself."""

    commands: list[str]
    finished: bool


def run(flow: Flow[None], script: list[tuple[str, str]], box: Mailbox, limit: int = 500,
        hangup_at: int | None = None, hangup_reply: str = HANGUP) -> Call:
    """Drive ``flow``: a command containing the head of ``script``'s text gets that reply; any other
    command gets what Asterisk answers when the caller does nothing. ``hangup_at``: the caller hangs up
    during that command (0-based), whatever the script says."""
    commands: list[str] = []
    todo = list(script)
    try:
        out = next(flow)
        for _ in range(limit):
            if isinstance(out, fx.Command):
                text = out.text
                commands.append(text)
                if len(commands) - 1 == hangup_at:
                    reply = hangup_reply
                    todo = []
                elif todo and todo[0][0] in text:
                    reply = todo.pop(0)[1]
                elif text.startswith("GET DATA"):
                    reply = TIMEOUT
                elif text == "HANGUP":
                    reply = "200 result=1"
                elif text.startswith(("WAIT FOR DIGIT", "SAY")):
                    reply = "200 result=0"
                elif text.startswith("RECORD FILE"):
                    reply = "200 result=0 (timeout) endpos=40000"
                else:
                    reply = "200 result=0 endpos=7253"
                value: object = parse_reply(reply)
            else:
                value = box.answer(out)
            out = flow.send(value)
        raise AssertionError("the menu never ended")
    except StopIteration:
        assert not todo, f"script not used up: {todo}"
        return Call(commands, True)
