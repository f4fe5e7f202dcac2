"""Async AGI (``AGI(agi:async)`` driven by ``Action: AGI``), as in captures q4 and q4b.

The channel announces itself with AsyncAGIStart (URL-encoded ``Env``); each queued command runs about
100 ms later (res_agi polls its queue) and yields AGIExecStart, its own events, AGIExecEnd and
AsyncAGIExec (``CommandId`` = the client's CommandID, ``Result`` URL-encoded). HANGUP, or the other
half hanging up, ends the session with AsyncAGIEnd and ``AGISTATUS=HANGUP``.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from voicemail.standin import events
from voicemail.standin.call import Call
from voicemail.standin.channel import Channel
from voicemail.standin.clock import sound_samples, sound_seconds
from voicemail.standin.config import ASTERISK_VERSION

MAX_QUEUED = 64


@dataclass(frozen=True)
class AgiCommand:
    text: str
    command_id: str


@dataclass(frozen=True)
class AgiResult:
    line: str                 # what an AGI script would read, without the newline
    code: int = 200
    end_result: str = "Success"
    action: str = ""          # "", "hangup" (HANGUP command), "break" (ASYNCAGI BREAK), "gone" (peer hung up)


class AgiSession:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[AgiCommand] = asyncio.Queue(maxsize=MAX_QUEUED)
        self.open = True

    def add(self, text: str, command_id: str) -> bool:
        if not self.open:
            return False
        try:
            self.queue.put_nowait(AgiCommand(text, command_id))
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


def agi_env(ch: Channel) -> str:
    lines = [
        ("agi_request", "async"), ("agi_channel", ch.name), ("agi_language", "en"), ("agi_type", "Local"),
        ("agi_uniqueid", ch.uniqueid), ("agi_version", ASTERISK_VERSION),
        ("agi_callerid", ch.caller.num or "unknown"), ("agi_calleridname", ch.caller.name or "unknown"),
        ("agi_callingpres", "0"), ("agi_callingani2", "0"), ("agi_callington", "0"), ("agi_callingtns", "0"),
        ("agi_dnid", "unknown"), ("agi_rdnis", "unknown"), ("agi_context", ch.context),
        ("agi_extension", ch.exten), ("agi_priority", str(ch.priority)), ("agi_enhanced", "0.0"),
        ("agi_accountcode", ""), ("agi_threadid", str(140702591743680 + random.getrandbits(20) * 4096)),
    ]
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
    """Run one AGI command on ``ch``."""
    from voicemail.standin.programs import run_application

    args = split_args(text)
    words = [a.upper() for a in args[:3]]
    if not args:
        return AgiResult("510 Invalid or unknown command", 510, "Invalid or unknown command")
    if words[:2] == ["STREAM", "FILE"] and len(args) >= 3:
        sound = args[2]
        ok = await call.media(ch, sound_seconds(sound))
        call.varset(ch, "PLAYBACKSTATUS", "SUCCESS")
        call.cel(ch, "STREAM_END")
        if not ok:
            return AgiResult("200 result=-1 endpos=0", action="gone")
        return AgiResult(f"200 result=0 endpos={sound_samples(sound)}")
    if words[:2] == ["GET", "DATA"] and len(args) >= 3:
        sound = args[2]
        call.cel(ch, "STREAM_BEGIN", extra=events.cel_stream_extra(sound))
        ok = await call.media(ch, sound_seconds(sound))
        call.cel(ch, "STREAM_END")
        timeout = 6.0
        if len(args) >= 4 and args[3].lstrip("-").isdigit() and int(args[3]) > 0:
            timeout = int(args[3]) / 1000
        if ok:
            ok = await call.media(ch, timeout)
        if not ok:
            return AgiResult("200 result=-1", action="gone")
        return AgiResult("200 result= (timeout)")
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
    if words[:2] == ["GET", "VARIABLE"] and len(args) >= 3:
        value = _variable(ch, args[2])
        return AgiResult(f"200 result=1 ({value})" if value is not None else "200 result=0")
    if words[:2] == ["SET", "VARIABLE"] and len(args) >= 4:
        call.varset(ch, args[2], args[3])
        return AgiResult("200 result=1")
    if words[:1] == ["HANGUP"]:
        call.emit(events.soft_hangup_request(ch, 32))
        return AgiResult("200 result=1", action="hangup")
    if words[:1] in (["ANSWER"], ["NOOP"]):
        return AgiResult("200 result=0")
    if words[:3] == ["WAIT", "FOR", "DIGIT"] and len(args) >= 4:
        ms = int(args[3]) if args[3].isdigit() else 0
        ok = await call.media(ch, ms / 1000)
        return AgiResult("200 result=0" if ok else "200 result=-1", action="" if ok else "gone")
    if words[:2] == ["SAY", "DIGITS"] and len(args) >= 3:
        for digit in args[2]:
            if digit.isdigit():
                call.cel(ch, "STREAM_BEGIN", extra=events.cel_stream_extra(f"digits/{digit}"))
                ok = await call.media(ch, sound_seconds(f"digits/{digit}"))
                call.cel(ch, "STREAM_END")
                if not ok:
                    return AgiResult("200 result=-1", action="gone")
        return AgiResult("200 result=0")
    if words[:2] == ["ASYNCAGI", "BREAK"]:
        return AgiResult("200 result=0", action="break")
    return AgiResult("510 Invalid or unknown command", 510, "Invalid or unknown command")


async def agi_program(call: Call, ch: Channel) -> None:
    """``AGI(agi:async)`` at priority 3 of ``agilab/agi`` (after NoOp and Answer), then the dialplan."""
    pbx = call.pbx
    call.newexten(ch, 3, "AGI", "agi:async")
    call.start_app(ch, "AGI", "agi:async")
    session = AgiSession()
    pbx.agi[ch.name.lower()] = session
    call.emit(events.async_agi_start(ch, agi_env(ch)))
    outcome = await _command_loop(call, ch, session)
    session.open = False
    pbx.agi.pop(ch.name.lower(), None)
    call.emit(events.async_agi_end(ch))
    if outcome == "break" and not call.peer_gone(ch):
        call.varset(ch, "AGISTATUS", "SUCCESS")
        call.newexten(ch, 4, "NoOp", "AGISTATUS=SUCCESS")
        call.start_app(ch, "NoOp", "AGISTATUS=SUCCESS")
        call.newexten(ch, 5, "Hangup", "")
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
        if not await call.media(ch, call.pbx.timing.agi_poll):
            return "gone"
        internal_id = str(random.randint(1, 2**31 - 1))
        call.emit(events.agi_exec_start(ch, internal_id, cmd.text))
        result = await execute(call, ch, cmd.text)
        call.emit(events.agi_exec_end(ch, internal_id, cmd.text, result.code, result.end_result))
        call.emit(events.async_agi_exec(ch, result.line + "\n", cmd.command_id))
        if result.action in ("hangup", "break"):
            return result.action
        if result.action == "gone" or call.peer_gone(ch):
            return "gone"
