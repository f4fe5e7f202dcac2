"""``Originate`` of a Local channel pair (the lab's way of leaving a message without a phone).

``Channel: Local/<exten>@<context>[/n]`` -- the ``;2`` half runs that extension of the lab dialplan;
the ``;1`` half runs ``Application``/``Data`` or the dialplan at ``Context``/``Exten``. With
``Async: true`` the reply comes at once and an OriginateResponse follows the answer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from voicemail.standin import events, phones
from voicemail.standin.call import Call, CallResult
from voicemail.standin.channel import Channel, Party
from voicemail.standin.dialplan import agi_arguments
from voicemail.standin.pbx import Pbx
from voicemail.standin.programs import (
    Program,
    dialplan_program,
    originated_app,
    source_program,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OriginateRequest:
    channel: str
    application: str = ""
    data: str = ""
    context: str = ""
    exten: str = ""
    caller: Party = field(default_factory=Party)
    action_id: str | None = None
    lenient: bool = False          # leave_message: any context is an audio source like vmlab/play
    audio: bytes | None = None
    announce: bool = True          # send OriginateResponse (Async: true)
    timeout_ms: int = 30000        # the phone must answer within this (Originate Timeout)
    channel_id: str = ""           # ChannelId: the ;1 half's Uniqueid (and the call's Linkedid)
    other_channel_id: str = ""     # OtherChannelId: the ;2 half's Uniqueid


class OriginateFailed(Exception):
    pass


def _target(req: OriginateRequest) -> list[tuple[str, str]]:
    if req.application:
        return [("Application", req.application), ("Data", req.data)]
    return [("Context", req.context), ("Exten", req.exten)]


def fail(pbx: Pbx, req: OriginateRequest) -> None:
    if req.announce:
        pbx.publish(events.originate_response(req.action_id, False, req.channel, _target(req), 0, "<unknown>",
                                              req.caller))


def start(pbx: Pbx, req: OriginateRequest, *, one_program: Program | None = None) -> Call:
    """Create the pair and start both halves; raises OriginateFailed when the channel cannot exist.
    ``one_program`` replaces what the ``;1`` half would run (leave_message's urgent vmleave calls)."""
    tech, slash, rest = req.channel.partition("/")
    if tech.lower() != "local" or not slash or not rest:
        raise OriginateFailed("not a Local channel")
    target, _, options = rest.partition("/")
    exten, _, context = target.partition("@")
    context = context or "default"
    if not exten:
        raise OriginateFailed("no extension")
    two_program = source_program(pbx.config, context, exten, lenient=req.lenient)
    if two_program is None and not req.announce:
        raise OriginateFailed("no such extension")
    if one_program is None:
        if req.application:
            one_program = originated_app(req.application, req.data,
                                         real=agi_arguments(context, exten) is not None)
        else:
            one_program = dialplan_program(req.context, req.exten)

    now = pbx.now()
    base = f"Local/{exten}@{context}-{pbx.ids.local_suffix()}"
    uid1 = pbx.ids.uniqueid(now)
    uid2 = pbx.ids.uniqueid(now)
    uid1, uid2 = req.channel_id or uid1, req.other_channel_id or uid2
    device = f"Local/{exten}@{context}"
    one = Channel(f"{base};1", uid1, uid1, 1, device, context, exten, now, state=0)
    two = Channel(f"{base};2", uid2, uid1, 2, device, context, exten, now, state=4)
    call = Call(pbx, one, two, req.caller, audio=req.audio, result=CallResult())

    program = one_program

    def on_answer() -> None:
        if req.application:
            call.start_app(one, req.application, req.data)
        if req.announce:
            call.emit(events.originate_response(req.action_id, True, one.name, _target(req), 4, one.uniqueid,
                                                req.caller))
        call.device_states(2)
        if program is None:
            call.hangup_first(one, 0, "")
        else:
            pbx.spawn(guarded(call, one, program), f"standin:{one.name}")

    def on_fail(reason: int) -> None:
        if req.announce:
            call.emit(events.originate_response(req.action_id, False, req.channel, _target(req), reason,
                                                req.channel_id or "<unknown>", req.caller))

    call.on_answer = on_answer
    call.on_fail = on_fail
    call.initiator_links_end = req.application.lower() == "playback"
    call.create(rest, optimize="n" not in options, dial=two_program is not None)
    pbx.calls.add(call)
    loop = asyncio.get_running_loop()
    if two_program is None:
        log.info("standin: no such extension/context for a Local channel")
        loop.call_soon(phones.no_such_extension, call)
        return call
    phone = two_program

    async def dialled(call: Call, ch: Channel) -> None:
        """The phone rings from when its half starts running, so a busy event loop cannot make the
        Timeout run out before a phone that answers at once has answered."""
        if req.timeout_ms > 0:
            loop.call_later(pbx.timing.scaled(req.timeout_ms / 1000), phones.no_answer, call)
        await phone(call, ch)

    pbx.spawn(guarded(call, two, dialled), f"standin:{two.name}")
    return call


async def guarded(call: Call, ch: Channel, program: Program) -> None:
    """Run one half's program; if it fails, hang that half up so the call still ends."""
    try:
        await program(call, ch)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("standin: the program of a call half failed; hanging it up")
        if not ch.hungup:
            call.hangup(ch, 0, "")
    finally:
        if call.finished.is_set():
            call.pbx.calls.discard(call)


async def wait_answered(call: Call, timeout: float) -> bool:
    """Whether the call was answered within ``timeout`` seconds (False as soon as it ended unanswered)."""
    answered = asyncio.ensure_future(call.answered.wait())
    ended = asyncio.ensure_future(call.finished.wait())
    try:
        await asyncio.wait({answered, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        answered.cancel()
        ended.cancel()
    return call.answered.is_set()
