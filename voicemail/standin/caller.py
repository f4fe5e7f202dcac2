"""The ``;2`` half as a phone: runs a step list (``steps.py``) like a dialplan extension would.

Used for the lab's caller contexts (``vmphone``: a phone calling the voicemail menu; ``phonesim``: a
phone called by "play on my phone") and for scripted callers/phones from ``StandinConfig``. Timing is
the lab's (capture q9): ``Answer()`` on a Local channel waits 0.5 s for media; ``SendDTMF(d,250,100)``
is 100 ms quiet, then per digit a 100 ms tone (DTMFBegin/DTMFEnd on the other half, Direction
Received, and a CEL DTMF) and a 250 ms pause; a digit reaches the other half when its tone ends.
``Playback(file)`` of a PCM file on disk is also what the caller says: RECORD FILE on the other half
records it.
"""

from __future__ import annotations

import asyncio

from voicemail.standin import events, sounds
from voicemail.standin.call import Call
from voicemail.standin.channel import Channel
from voicemail.standin.phones import indicate
from voicemail.standin.steps import Step
from voicemail.standin.vars import substitute

ANSWER_MEDIA_WAIT = 0.5     # Answer() on a Local channel waits up to 500 ms for media
DTMF_LEAD = 0.1             # ast_dtmf_stream: 100 ms before the first digit
_PAUSES = {"w": 0.5, "W": 1.0}


async def run_steps(call: Call, ch: Channel, steps: tuple[Step, ...], *, first_priority: int = 1) -> None:
    """Run ``steps`` on ``ch``; falling off the end hangs up like the dialplan does (cause 16)."""
    if not call.answered.is_set():
        call.nominal[ch.side] = None  # before the answer, waits are plain durations
    for priority, step in enumerate(steps, first_priority):
        data = substitute(call, ch, step.data)
        call.newexten(ch, priority, step.app, data)
        call.start_app(ch, step.app, data)
        alive = await _run(call, ch, step.app.lower(), data)
        if ch.hungup:
            return
        if not alive:
            call.hangup_second(ch, soft=True)
            return
    call.hangup_first(ch, 16, "dialplan/builtin", soft_cause=16)


async def _run(call: Call, ch: Channel, app: str, data: str) -> bool:
    if app == "answer":
        return await answer(call, ch)
    if app == "wait":
        return await call.media(ch, max(0.0, float(data or 0)))
    if app == "senddtmf":
        return await send_dtmf(call, ch, data)
    if app == "hangup":
        call.hangup_first(ch, 16, "dialplan/builtin", soft_cause=16)
        return False
    if app == "playback":
        from voicemail.standin.programs import playback

        config = call.pbx.config
        pcm = sounds.pcm_of(data.split(",")[0].split("&")[0], config.sounds_dir, config.file_root)
        if pcm:
            call.speech.append((asyncio.get_running_loop().time(), pcm))
        return await playback(call, ch, data)
    if app in ("ringing", "busy", "congestion"):
        return await indicate(call, ch, app)
    if app == "set":
        name, _, value = data.partition("=")
        call.varset(ch, name.strip(), value)
    return not call.peer_gone(ch)


async def answer(call: Call, ch: Channel) -> bool:
    if not call.answered.is_set():
        call.answer()
        call.nominal[ch.side] = 0.0
    return await call.media(ch, ANSWER_MEDIA_WAIT)


async def send_dtmf(call: Call, ch: Channel, data: str) -> bool:
    """``SendDTMF(digits[,between_ms[,duration_ms]])`` (defaults 250 and 100, like app_senddtmf)."""
    parts = data.split(",")
    digits = parts[0]
    between = int(parts[1]) if len(parts) > 1 and parts[1].strip() else 250
    duration = int(parts[2]) if len(parts) > 2 and parts[2].strip() else 100
    between = between if between > 0 else 250
    duration = duration if duration > 0 else 100
    peer = call.peer(ch)
    if not await call.media(ch, DTMF_LEAD):
        return False
    for digit in digits:
        if digit in _PAUSES:
            if not await call.media(ch, _PAUSES[digit]):
                return False
            continue
        digit = digit.upper()
        call.emit(events.dtmf_begin(peer, digit))
        if not await call.media(ch, duration / 1000):
            return False
        call.emit(events.dtmf_end(peer, digit, duration))
        call.cel(peer, "DTMF", extra=events.cel_dtmf_extra(digit, duration))
        call.press(peer, digit)
        if not await call.media(ch, between / 1000):
            return False
    return True


