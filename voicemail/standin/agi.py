"""Async AGI (``AGI(agi:async[,args])`` driven by ``Action: AGI``), as in captures q4, q4b, q9-q9c.

The channel announces itself with AsyncAGIStart (URL-encoded ``Env``, res_agi.c ``setup_env``: the
AGI() arguments come last as ``agi_arg_<n>``); each command is picked up when res_agi next looks at its
queue (1-101 ms; at once when it was queued while another ran) and yields AGIExecStart, its own
events, AGIExecEnd and AsyncAGIExec (``CommandId`` = the client's CommandID, ``Result`` URL-encoded).
HANGUP, or the other half hanging up, ends the session with AsyncAGIEnd and ``AGISTATUS=HANGUP`` (the
commands still queued are dropped); a command whose handler fails (a missing file) ends it with
``AGISTATUS=FAILURE`` and the dialplan goes on.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from voicemail.standin import agi_play, agi_record, events
from voicemail.standin.agi_play import AgiResult
from voicemail.standin.call import Call
from voicemail.standin.channel import Channel
from voicemail.standin.config import ASTERISK_VERSION

MAX_QUEUED = 64
UNKNOWN = AgiResult("510 Invalid or unknown command", 510, "Invalid or unknown command")


@dataclass(frozen=True)
class AgiCommand:
    text: str
    command_id: str
    queued_at: float


class AgiSession:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[AgiCommand] = asyncio.Queue(maxsize=MAX_QUEUED)
        self.open = True

    def add(self, text: str, command_id: str) -> bool:
        if not self.open:
            return False
        try:
            self.queue.put_nowait(AgiCommand(text, command_id, asyncio.get_running_loop().time()))
        except asyncio.QueueFull:
            return False
        return True


def split_args(text: str) -> list[str]:
    """res_agi ``parse_args``: blanks separate, double quotes group (``""`` is an empty argument),
    a backslash escapes the next character."""
    args: list[str] = []
    cur: list[str] = []
    quoted = escaped = have = False
    for c in text:
        if escaped:
            cur.append(c)
            escaped = False
            have = True
        elif c == "\\":
            escaped = True
        elif c == '"':
            quoted = not quoted
            have = True
        elif c in " \t" and not quoted:
            if have:
                args.append("".join(cur))
                cur, have = [], False
        else:
            cur.append(c)
            have = True
    if have:
        args.append("".join(cur))
    return args


def agi_env(ch: Channel, args: tuple[str, ...] = ()) -> str:
    """``setup_env`` (res_agi.c): fixed variables, then ``agi_arg_<n>`` for each AGI() argument after
    the script name, then an empty line."""
    lines = [
        ("agi_request", "async"), ("agi_channel", ch.name), ("agi_language", "en"), ("agi_type", "Local"),
        ("agi_uniqueid", ch.uniqueid), ("agi_version", ASTERISK_VERSION),
        ("agi_callerid", ch.caller.num or "unknown"), ("agi_calleridname", ch.caller.name or "unknown"),
        ("agi_callingpres", "0"), ("agi_callingani2", "0"), ("agi_callington", "0"), ("agi_callingtns", "0"),
        ("agi_dnid", "unknown"), ("agi_rdnis", "unknown"), ("agi_context", ch.context),
        ("agi_extension", ch.exten), ("agi_priority", str(ch.priority)), ("agi_enhanced", "0.0"),
        ("agi_accountcode", ""), ("agi_threadid", str(140702591743680 + random.getrandbits(20) * 4096)),
    ]
    lines += [(f"agi_arg_{n}", arg) for n, arg in enumerate(args, 1)]
    return "".join(f"{k}: {v}\n" for k, v in lines) + "\n"


def _variable(ch: Channel, name: str) -> str | None:
    upper = name.upper()
    builtin = {
        "CHANNEL": ch.name, "UNIQUEID": ch.uniqueid, "CONTEXT": ch.context, "EXTEN": ch.exten,
        "PRIORITY": str(ch.priority), "LINKEDID": ch.linkedid,
        "CALLERID(NUM)": ch.caller.num, "CALLERID(NAME)": ch.caller.name,
    }
    if upper in builtin:
        return builtin[upper]
    return ch.variables.get(name)


async def execute(call: Call, ch: Channel, text: str) -> AgiResult:
    """Run one AGI command on ``ch``; ``520`` when its arguments do not fit, ``510`` when unknown."""
    args = split_args(text)
    words = [a.upper() for a in args[:3]]
    result = await _dispatch(call, ch, args, words)
    if result is None:
        return AgiResult("520 Invalid command syntax.  Proper usage not available.", 520, "Usage")
    return result


async def _dispatch(call: Call, ch: Channel, args: list[str], words: list[str]) -> AgiResult | None:
    from voicemail.standin.programs import run_application

    if not args:
        return UNKNOWN
    if words[:2] == ["STREAM", "FILE"]:
        return await agi_play.stream_file(call, ch, args)
    if words[:3] == ["CONTROL", "STREAM", "FILE"]:
        return await agi_play.control_stream_file(call, ch, args)
    if words[:2] == ["GET", "DATA"]:
        return await agi_play.get_data(call, ch, args)
    if words[:3] == ["WAIT", "FOR", "DIGIT"]:
        return await agi_play.wait_for_digit(call, ch, args)
    if words[:2] == ["GET", "OPTION"]:
        return await agi_play.get_option(call, ch, args)
    if words[:1] == ["SAY"] and len(words) > 1 and words[1] in ("NUMBER", "DIGITS", "DATETIME", "ALPHA"):
        return await agi_play.say_command(call, ch, args, words[1])
    if words[:2] == ["RECORD", "FILE"]:
        return await agi_record.record_file(call, ch, args)
    if words[:1] == ["EXEC"] and len(args) >= 2:
        app, data = args[1], " ".join(args[2:])
        saved = (ch.app, ch.appdata)
        alive = await run_application(call, ch, app, data, real=False)
        ch.app, ch.appdata = saved
        if alive is None:
            return AgiResult("200 result=-2")
        if not alive:
            return AgiResult("200 result=-1", end_result="Unknown Result", action="gone")
        return AgiResult("200 result=0")
    if words[:2] == ["GET", "VARIABLE"] and len(args) == 3:
        value = _variable(ch, args[2])
        return AgiResult(f"200 result=1 ({value})" if value is not None else "200 result=0")
    if words[:2] == ["SET", "VARIABLE"] and len(args) == 4:
        call.varset(ch, args[2], args[3])
        return AgiResult("200 result=1")
    if words[:1] == ["HANGUP"]:
        call.emit(events.soft_hangup_request(ch, 32))
        return AgiResult("200 result=1", action="hangup")
    if words[:1] in (["ANSWER"], ["NOOP"]):
        return AgiResult("200 result=0")
    if words[:2] == ["ASYNCAGI", "BREAK"]:
        return AgiResult("200 result=0", action="break")
    return UNKNOWN


async def agi_program(call: Call, ch: Channel, priority: int = 3, args: tuple[str, ...] = ()) -> None:
    """``AGI(agi:async[,args])`` at ``priority`` (after NoOp and Answer), then the rest of the extension:
    ``NoOp(AGISTATUS=${AGISTATUS})`` and ``Hangup()``."""
    pbx = call.pbx
    appdata = ",".join(("agi:async", *args))
    call.newexten(ch, priority, "AGI", appdata)
    call.start_app(ch, "AGI", appdata)
    session = AgiSession()
    pbx.agi[ch.name.lower()] = session
    call.emit(events.async_agi_start(ch, agi_env(ch, args)))
    call.agi_started.set()
    outcome = await _command_loop(call, ch, session)
    session.open = False
    pbx.agi.pop(ch.name.lower(), None)
    call.emit(events.async_agi_end(ch))
    if outcome in ("break", "failure") and not call.peer_gone(ch):
        status = "SUCCESS" if outcome == "break" else "FAILURE"
        call.varset(ch, "AGISTATUS", status)
        if ch.cel_app is not None:
            call.cel(ch, "APP_END", app=ch.cel_app)
            ch.cel_app = None
        call.newexten(ch, priority + 1, "NoOp", f"AGISTATUS={status}")
        call.start_app(ch, "NoOp", f"AGISTATUS={status}")
        call.newexten(ch, priority + 2, "Hangup", "")
        call.start_app(ch, "Hangup", "")
        call.hangup_first(ch, 16, "dialplan/builtin", soft_cause=16)
        return
    call.varset(ch, "AGISTATUS", "HANGUP")
    if call.peer_gone(ch):
        call.hangup_second(ch, soft=True, cdr="before_hangup")
    else:
        call.hangup_first(ch, 0, "dialplan/agi", soft_cause=16, cdr="first")


async def _command_loop(call: Call, ch: Channel, session: AgiSession) -> str:
    peer_gone = call.gone[3 - ch.side]
    loop = asyncio.get_running_loop()
    idle_since = loop.time()
    while True:
        call.nominal[ch.side] = None  # the client sets the pace from here on
        getter = asyncio.ensure_future(session.queue.get())
        waiter = asyncio.ensure_future(peer_gone.wait())
        try:
            await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not getter.done():
                getter.cancel()
        if peer_gone.is_set() or getter.cancelled():
            return "gone"
        cmd = getter.result()
        if not await call.media(ch, _poll_delay(call, cmd, idle_since, loop.time()), real=True):
            return "gone"
        internal_id = str(random.randint(1, 2**31 - 1))
        call.emit(events.agi_exec_start(ch, internal_id, cmd.text))
        result = await execute(call, ch, cmd.text)
        call.emit(events.agi_exec_end(ch, internal_id, cmd.text, result.code, result.end_result))
        call.emit(events.async_agi_exec(ch, result.line + "\n", cmd.command_id))
        idle_since = loop.time()
        if result.action in ("hangup", "break", "failure") and not call.peer_gone(ch):
            return result.action
        if result.action == "gone" or call.peer_gone(ch):
            return "gone"


def _poll_delay(call: Call, cmd: AgiCommand, idle_since: float, now: float) -> float:
    """Real seconds until res_agi picks ``cmd`` up: at once when it was queued while the previous
    command ran; otherwise at the end of the current 100 ms wait for a frame (1-101 ms in q9)."""
    if cmd.queued_at <= idle_since:
        return 0.001 * call.pbx.timing.scale
    poll = call.pbx.timing.scaled(call.pbx.timing.agi_poll)
    if poll <= 0:
        return 0.0
    return max(0.001 * call.pbx.timing.scale, poll - (now - idle_since) % poll)
