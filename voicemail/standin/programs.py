"""The lab dialplan (extensions.conf of lab-environment.txt) and the applications it runs.

    [vmlab]       play: NoOp, Answer, Wait(1), Playback(custom/lab-message), Hangup
                  playshort: Answer, Wait(1), Hangup
    [vmleave-int] _X.: Set(CALLERID(all)="Alice Internal" <1001>), VoiceMail(${EXTEN}@default,su), Hangup
    [vmleave-ext] _X.: Set(CALLERID(name)=), Set(CALLERID(num)=+12025550123), VoiceMail(...), Hangup
    [vmleave-anon] _X.: Set(CALLERID(all)=), VoiceMail(...), Hangup
    [agilab]      agi: NoOp, Answer, AGI(agi:async), NoOp(AGISTATUS=...), Hangup
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from voicemail.standin import events, sounds
from voicemail.standin.call import Call
from voicemail.standin.caller import run_steps
from voicemail.standin.channel import Channel, Party, parse_callerid
from voicemail.standin.clock import SOUND_SECONDS, sound_seconds
from voicemail.standin.config import LAB_PROMPT, StandinConfig
from voicemail.standin.dialplan import agi_arguments, caller_steps
from voicemail.standin.voicemail_app import voicemail

log = logging.getLogger(__name__)

Program = Callable[[Call, Channel], Coroutine[Any, Any, None]]

VMLEAVE: dict[str, list[tuple[str, str]]] = {
    "vmleave-int": [("Set", 'CALLERID(all)="Alice Internal" <1001>')],
    "vmleave-ext": [("Set", "CALLERID(name)="), ("Set", "CALLERID(num)=+12025550123")],
    "vmleave-anon": [("Set", "CALLERID(all)=")],
}


# --- applications --------------------------------------------------------------------------------

async def playback(call: Call, ch: Channel, data: str, *, real: bool = False) -> bool:
    """``Playback(file[&file...])``: a file that cannot be found is skipped and the status is FAILED."""
    files = data.split(",")[0].split("&")
    ok = True
    status = "SUCCESS"
    for name in files:
        sound = sounds.lookup(name, call.pbx.config.sounds_dir, call.pbx.config.file_root)
        if sound is None:
            log.warning("standin: Playback: no such sound file")
            status = "FAILED"
            continue
        seconds = sound_seconds(name) if name in SOUND_SECONDS else sound.seconds
        call.cel(ch, "STREAM_BEGIN", extra=events.cel_stream_extra(name))
        ok = await call.media(ch, seconds, real=real)
        call.cel(ch, "STREAM_END")
        if not ok:
            break
    call.varset(ch, "PLAYBACKSTATUS", status)
    return ok


def apply_set(call: Call, ch: Channel, data: str) -> None:
    """``Set(CALLERID(all|name|num)=...)``; other variables become a VarSet."""
    name, _, value = data.partition("=")
    key = name.strip().upper()
    before = ch.caller.copy()
    if key == "CALLERID(ALL)":
        ch.caller = parse_callerid(value) if value.strip() else Party()
    elif key == "CALLERID(NAME)":
        ch.caller = Party(ch.caller.num, value or None)
    elif key == "CALLERID(NUM)":
        ch.caller = Party(value or None, ch.caller.name)
    else:
        call.varset(ch, name.strip(), value)
        return
    if ch.caller != before:
        call.emit(events.newcallerid(ch))


async def run_application(call: Call, ch: Channel, app: str, data: str, *, real: bool,
                          started: bool = False) -> bool | None:
    """Run one application on ``ch`` (CEL/CDR bookkeeping included unless ``started``). Returns whether
    the channel is still up afterwards, or None when the application does not exist."""
    low = app.lower()
    if low not in APPLICATIONS:
        log.warning("standin: no such application %r", app[:40])
        return None
    if not started:
        call.start_app(ch, app, data)
    if low == "voicemail":
        return await voicemail(call, ch, data)
    if low == "playback":
        return await playback(call, ch, data, real=real)
    if low == "wait":
        try:
            seconds = max(0.0, float(data or 0))
        except ValueError:
            seconds = 0.0
        return await call.media(ch, seconds, real=True)
    if low == "set":
        apply_set(call, ch, data)
    return not call.peer_gone(ch)


APPLICATIONS = frozenset({"voicemail", "playback", "wait", "noop", "answer", "set"})


# --- programs of each half -----------------------------------------------------------------------

async def _answer_step(call: Call, ch: Channel, priority: int) -> None:
    call.newexten(ch, priority, "Answer", "")
    call.start_app(ch, "Answer", "")
    if ch.side == 2 and not call.answered.is_set():
        call.answer()
    await asyncio.sleep(0)


async def play_source(call: Call, ch: Channel) -> None:
    """``vmlab/play``: the audio the VoiceMail side records (10.1 s of prompt after 1 s)."""
    call.newexten(ch, 1, "NoOp", f"vmlab audio source {ch.name}")
    call.start_app(ch, "NoOp", f"vmlab audio source {ch.name}")
    await _answer_step(call, ch, 2)
    call.newexten(ch, 3, "Wait", "1")
    call.start_app(ch, "Wait", "1")
    if not await call.media(ch, call.pbx.timing.wait_before_prompt):
        call.hangup_second(ch, soft=True)
        return
    call.newexten(ch, 4, "Playback", LAB_PROMPT)
    call.start_app(ch, "Playback", LAB_PROMPT)
    call.cel(ch, "STREAM_BEGIN", extra=events.cel_stream_extra(LAB_PROMPT))
    if await call.media(ch, sound_seconds(LAB_PROMPT)):
        call.varset(ch, "PLAYBACKSTATUS", "SUCCESS")
        ch.cdr_app = ("Hangup", "")
        call.emit(events.cdr(ch, call.pbx.now()))
        call.cel(ch, "STREAM_END")
        call.newexten(ch, 5, "Hangup", "")
        call.start_app(ch, "Hangup", "")
        call.hangup_first(ch, 16, "dialplan/builtin", soft_cause=16, cdr="none")
    else:
        call.cel(ch, "STREAM_END")
        call.varset(ch, "PLAYBACKSTATUS", "SUCCESS")
        call.hangup_second(ch, soft=True)


async def playshort_source(call: Call, ch: Channel) -> None:
    """``vmlab/playshort``: hangs up one second after answering."""
    await _answer_step(call, ch, 1)
    call.newexten(ch, 2, "Wait", "1")
    call.start_app(ch, "Wait", "1")
    if not await call.media(ch, call.pbx.timing.wait_before_prompt):
        call.hangup_second(ch, soft=True)
        return
    call.newexten(ch, 3, "Hangup", "")
    call.start_app(ch, "Hangup", "")
    call.hangup_first(ch, 16, "dialplan/builtin", soft_cause=16)


async def agilab(call: Call, ch: Channel) -> None:
    await _agi_entry(call, ch, f"async agi lab {ch.name}", ())


def agi_entry(args: tuple[str, ...]) -> Program:
    """An entry point like ``agilab/agi`` whose AGI step passes ``args``: NoOp, Answer,
    ``AGI(agi:async,<args>)``, ``NoOp(AGISTATUS=...)``, Hangup."""

    async def run(call: Call, ch: Channel) -> None:
        await _agi_entry(call, ch, f"{args[0] if args else 'async agi'} {ch.name}", args)

    return run


async def _agi_entry(call: Call, ch: Channel, noop: str, args: tuple[str, ...]) -> None:
    from voicemail.standin.agi import agi_program

    call.newexten(ch, 1, "NoOp", noop)
    call.start_app(ch, "NoOp", noop)
    await _answer_step(call, ch, 2)
    await call.media(ch, call.pbx.timing.agi_start_delay)
    if call.peer_gone(ch):
        call.hangup_second(ch, soft=True)
        return
    await agi_program(call, ch, 3, args)


def vmleave(context: str, exten: str, options: str = "su") -> Program:
    """``vmleave-*/_X.``: set the caller id, VoiceMail(${EXTEN}@default,su), Hangup."""
    steps = VMLEAVE[context]

    async def run(call: Call, ch: Channel) -> None:
        ch.context, ch.exten = context, exten
        priority = 0
        for app, data in steps:
            priority += 1
            call.newexten(ch, priority, app, data)
            call.start_app(ch, app, data)
            apply_set(call, ch, data)
        priority += 1
        vm_data = f"{exten}@default,{options}"
        call.newexten(ch, priority, "VoiceMail", vm_data)
        if ch.side == 2 and not call.answered.is_set():
            call.answer()
        call.start_app(ch, "VoiceMail", vm_data)
        alive = await voicemail(call, ch, vm_data)
        if not alive or call.peer_gone(ch):
            call.hangup_second(ch, soft=True)
            return
        call.newexten(ch, priority + 1, "Hangup", "")
        call.start_app(ch, "Hangup", "")
        call.hangup_first(ch, 16, "dialplan/builtin", soft_cause=16)

    return run


def originated_app(app: str, data: str, *, real: bool) -> Program:
    """The ``;1`` half of ``Originate ... Application: X``: run X, then hang up."""

    async def run(call: Call, ch: Channel) -> None:
        await run_application(call, ch, app, data, real=real, started=True)
        if call.peer_gone(ch):
            call.hangup_second(ch, soft=False)
        else:
            call.hangup_first(ch, 0, "")

    return run


def source_program(config: StandinConfig, context: str, exten: str, *, lenient: bool) -> Program | None:
    """The program the ``;2`` half of ``Local/<exten>@<context>`` runs, or None when the lab dialplan
    has no such extension. ``lenient``: any other context behaves like ``vmlab/play`` (leave_message)."""
    steps = caller_steps(config, context, exten)
    if steps is not None:
        script = steps

        async def phone(call: Call, ch: Channel) -> None:
            await run_steps(call, ch, script)

        return phone
    if agi_arguments(context, exten) not in (None, ()):
        return agi_entry(agi_arguments(context, exten) or ())
    if context == "vmlab" and exten == "play":
        return play_source
    if context == "vmlab" and exten == "playshort":
        return playshort_source
    if context == "agilab" and exten == "agi":
        return agilab
    if context in VMLEAVE and exten.isdigit():
        return vmleave(context, exten)
    if lenient:
        return play_source
    return None


def dialplan_program(context: str, exten: str) -> Program | None:
    """The program the ``;1`` half runs for ``Originate ... Context/Exten`` (None: no such extension)."""
    if context in VMLEAVE and exten.isdigit():
        return vmleave(context, exten)
    inner: Program
    args = agi_arguments(context, exten)
    if args:
        inner = agi_entry(args)
    elif context == "agilab" and exten == "agi":
        inner = agilab
    elif context == "vmlab" and exten == "play":
        inner = play_source
    elif context == "vmlab" and exten == "playshort":
        inner = playshort_source
    else:
        return None

    async def run(call: Call, ch: Channel) -> None:
        ch.context, ch.exten = context, exten
        await inner(call, ch)

    return run
