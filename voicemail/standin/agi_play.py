"""The AGI commands that play, listen and record: STREAM FILE, CONTROL STREAM FILE, GET DATA, WAIT FOR
DIGIT, GET OPTION and SAY NUMBER/DIGITS/DATETIME/ALPHA, with res_agi.c's result lines (Asterisk
22.10.1, ``handle_streamfile``, ``handle_controlstreamfile``, ``handle_getdata``, ``handle_waitfordigit``,
``handle_getoption``, ``handle_saynumber``/``saydigits``/``saydatetime``/``sayalpha``) and captures q9-q9c.

Positions are counted in 20 ms frames: STREAM FILE reports the samples read (one frame ahead of what
was heard), CONTROL STREAM FILE milliseconds (``ast_control_streamfile`` offset / 8).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from voicemail.standin import events, say, sounds
from voicemail.standin.call import Call
from voicemail.standin.channel import Channel

ANY_DIGIT = "0123456789*#ABCD"
FRAME = 160                      # samples in a 20 ms frame


@dataclass(frozen=True)
class AgiResult:
    line: str                 # what an AGI script would read, without the newline
    code: int = 200
    end_result: str = "Success"
    action: str = ""          # "", "hangup" (HANGUP), "break" (ASYNCAGI BREAK), "gone" (peer hung up),
                              # "failure" (the handler failed: the session ends, AGISTATUS=FAILURE)


def failed(line: str, gone: bool) -> AgiResult:
    return AgiResult(line, -1, "Failure", "gone" if gone else "failure")


class Clock:
    """Lab seconds since a point, on the event loop's clock."""

    def __init__(self, call: Call) -> None:
        self.scale = call.pbx.timing.scale or 1.0
        self.t0 = asyncio.get_running_loop().time()

    def seconds(self) -> float:
        return (asyncio.get_running_loop().time() - self.t0) / self.scale


def escape_digits(text: str) -> str:
    return "".join(c for c in text if c in ANY_DIGIT)


async def stream_file(call: Call, ch: Channel, args: list[str]) -> AgiResult | None:
    """``STREAM FILE <file> <escape digits> [sample offset]``."""
    if not 4 <= len(args) <= 5:
        return None
    offset = int(args[4]) if len(args) == 5 and args[4].lstrip("-").isdigit() else 0
    sound = sounds.lookup(args[2], call.pbx.config.sounds_dir, call.pbx.config.file_root)
    if sound is None:
        return failed(f"200 result=-1 endpos={offset}", gone=False)
    start = min(max(0, offset), sound.samples)
    clock = Clock(call)
    got = await call.listen(ch, (sound.samples - start) / sounds.RATE, escape_digits(args[3]))
    call.cel(ch, "STREAM_END")
    if got is True:
        call.varset(ch, "PLAYBACKSTATUS", "SUCCESS")
        return AgiResult(f"200 result=0 endpos={sound.samples}")
    pos = min(sound.samples, start + (math.floor(clock.seconds() * sounds.RATE / FRAME) + 1) * FRAME)
    call.varset(ch, "PLAYBACKSTATUS", "FAILED")
    if got is False:
        return failed(f"200 result=-1 endpos={pos}", gone=True)
    return AgiResult(f"200 result={ord(got)} endpos={pos}")


async def get_option(call: Call, ch: Channel, args: list[str]) -> AgiResult | None:
    """``GET OPTION <file> <escape digits> [timeout ms]``: STREAM FILE, then (if no key stopped it) a
    wait for a key (default 5000 ms); a key outside the escape list, and a hangup, count as 0."""
    if not 4 <= len(args) <= 5:
        return None
    timeout = _atoi(args[4]) if len(args) == 5 else 5000
    sound = sounds.lookup(args[2], call.pbx.config.sounds_dir, call.pbx.config.file_root)
    if sound is None:
        return failed("200 result=-1 endpos=0", gone=False)
    escape = escape_digits(args[3])
    clock = Clock(call)
    got = await call.listen(ch, sound.seconds, escape)
    call.cel(ch, "STREAM_END")
    pos = sound.samples
    if isinstance(got, str) or got is False:
        pos = min(sound.samples, (math.floor(clock.seconds() * sounds.RATE / FRAME) + 1) * FRAME)
    if got is False:
        return failed(f"200 result=-1 endpos={pos}", gone=True)
    if got is True:
        got = await call.listen(ch, timeout / 1000 if timeout > 0 else 0.0, ANY_DIGIT)
        if got is False:
            return AgiResult(f"200 result=0 endpos={pos}", action="gone")
        if got is True or got not in escape:
            return AgiResult(f"200 result=0 endpos={pos}")
    return AgiResult(f"200 result={ord(got)} endpos={pos}")


async def control_stream_file(call: Call, ch: Channel, args: list[str]) -> AgiResult | None:
    """``CONTROL STREAM FILE <file> <escape> [skipms [ff [rew [pause [offsetms]]]]]``: the ff/rew/pause
    characters win over the same characters in the escape list."""
    if not 5 <= len(args) <= 10:
        return None
    stop = args[4]
    try:
        skip = int(args[5]) if len(args) > 5 else 3000
        offset_ms = int(args[9]) if len(args) > 9 else 0
    except ValueError:
        return None
    fwd = args[6] if len(args) > 6 and args[6] else "#"
    rev = args[7] if len(args) > 7 and args[7] else "*"
    pause = args[8] if len(args) > 8 and args[8] else ""
    sound = sounds.lookup(args[3], call.pbx.config.sounds_dir, call.pbx.config.file_root)
    if sound is None:
        call.varset(ch, "CPLAYBACKSTATUS", "ERROR")
        call.varset(ch, "CPLAYBACKOFFSET", str(offset_ms))
        return failed(f"200 result=-1 endpos={offset_ms}", gone=False)
    total_ms = sound.samples * 1000 // sounds.RATE
    pos = min(max(0, offset_ms), total_ms)
    call.cel(ch, "STREAM_BEGIN", extra=events.cel_stream_extra(args[3]))
    accept = escape_digits(stop + fwd + rev + pause)
    result: str | bool = True
    while True:
        clock = Clock(call)
        got = await call.listen(ch, (total_ms - pos) / 1000, accept)
        heard = round(clock.seconds() * 50) * 20
        if got is True:
            result = True
            break
        pos = min(total_ms, pos + heard)
        if got is False:
            result = False
            break
        if got in fwd:
            pos += skip
            if pos >= total_ms:
                result = True
                break
        elif got in rev:
            pos = max(0, pos - skip)
        elif got in pause:
            resumed = await call.listen(ch, None, escape_digits(pause + stop))
            if resumed is False or (isinstance(resumed, str) and resumed in stop and resumed not in pause):
                result = resumed
                break
        elif got in stop:
            result = got
            break
    call.cel(ch, "STREAM_END")
    if result is True:
        call.varset(ch, "CPLAYBACKSTATUS", "SUCCESS")
        call.varset(ch, "CPLAYBACKOFFSET", "-1")
        return AgiResult("200 result=0 endpos=-1")
    if result is False:
        call.varset(ch, "CPLAYBACKSTATUS", "ERROR")
        call.varset(ch, "CPLAYBACKOFFSET", str(pos))
        return failed(f"200 result=-1 endpos={pos}", gone=True)
    call.varset(ch, "CPLAYBACKSTATUS", "USERSTOPPED")
    call.varset(ch, "CPLAYBACKSTOPKEY", result)
    call.varset(ch, "CPLAYBACKOFFSET", str(pos))
    return AgiResult(f"200 result={ord(result)} endpos={pos}")


async def get_data(call: Call, ch: Channel, args: list[str]) -> AgiResult | None:
    """``GET DATA <file> [timeout ms [max digits]]``: ``#`` ends the input and is not returned."""
    if len(args) < 3:
        return None
    timeout = _atoi(args[3]) if len(args) >= 4 else 0
    most = _atoi(args[4]) if len(args) >= 5 else 1024
    first_wait, next_wait = (10.0, 5.0) if timeout == 0 else (None, None) if timeout < 0 else (
        timeout / 1000, timeout / 1000)
    digits = ""
    prompts = [p.strip() for p in args[2].split("&") if p.strip()]
    if not prompts:
        prompts = [""]
    for index, prompt in enumerate(prompts):
        last = index == len(prompts) - 1
        got: str | bool = True
        if prompt:
            sound = sounds.lookup(prompt, call.pbx.config.sounds_dir, call.pbx.config.file_root)
            if sound is None:
                if last:
                    return AgiResult("200 result=-1")
                continue
            call.cel(ch, "STREAM_BEGIN", extra=events.cel_stream_extra(prompt))
            got = await call.listen(ch, sound.seconds, ANY_DIGIT)
            call.cel(ch, "STREAM_END")
        wait = first_wait if last else 0.05
        while True:
            if got is True:
                got = await call.listen(ch, wait, ANY_DIGIT)
            if got is False:
                return AgiResult("200 result=-1")
            if got is True:
                break
            if got == "#":
                return AgiResult(f"200 result={digits}")
            digits += got
            if 0 < most <= len(digits):
                return AgiResult(f"200 result={digits}")
            got, wait = True, next_wait if last else 5.0
        if digits:
            return AgiResult(f"200 result={digits} (timeout)")
    return AgiResult(f"200 result={digits} (timeout)")


async def wait_for_digit(call: Call, ch: Channel, args: list[str]) -> AgiResult | None:
    """``WAIT FOR DIGIT <timeout ms>`` (-1: forever): the digit's ASCII code, 0 on timeout."""
    if len(args) != 4 or not args[3].lstrip("-").isdigit():
        return None
    ms = int(args[3])
    got = await call.listen(ch, None if ms < 0 else ms / 1000, ANY_DIGIT)
    if got is False:
        return failed("200 result=-1", gone=True)
    return AgiResult("200 result=0" if got is True else f"200 result={ord(got)}")


async def say_files(call: Call, ch: Channel, files: list[str], escape: str) -> AgiResult:
    """Play ``files`` in turn (CEL STREAM_BEGIN/END each); an escape digit stops and is the result."""
    accept = escape_digits(escape)
    for name in files:
        sound = sounds.lookup(name, call.pbx.config.sounds_dir, call.pbx.config.file_root)
        if sound is None:
            continue
        call.cel(ch, "STREAM_BEGIN", extra=events.cel_stream_extra(name))
        got = await call.listen(ch, sound.seconds, accept)
        call.cel(ch, "STREAM_END")
        if got is False:
            return failed("200 result=-1", gone=True)
        if isinstance(got, str):
            return AgiResult(f"200 result={ord(got)}")
    return AgiResult("200 result=0")


async def say_command(call: Call, ch: Channel, args: list[str], what: str) -> AgiResult | None:
    if what == "NUMBER":
        if len(args) < 4 or not args[2].lstrip("-").isdigit():
            return None
        return await say_files(call, ch, say.number_files(int(args[2])), args[3])
    if what == "ALPHA":
        if len(args) not in (4, 5) or (len(args) == 5 and args[4][:1].lower() not in ("a", "l", "n", "u", "")):
            return None
        sensitivity = args[4][:1].lower() if len(args) == 5 else "n"
        return await say_files(call, ch, say.alpha_files(args[2], sensitivity), args[3])
    if what == "DIGITS":
        if len(args) != 4 or not args[2].lstrip("-").isdigit():
            return None
        return await say_files(call, ch, say.digit_files(args[2]), args[3])
    if len(args) < 4 or not args[2].lstrip("-").isdigit():
        return None
    fmt = args[4] if len(args) > 4 else ""
    tz = args[5] if len(args) > 5 else ""
    return await say_files(call, ch, say.datetime_files(int(args[2]), fmt, tz), args[3])


def _atoi(text: str) -> int:
    digits = ""
    for i, c in enumerate(text.strip()):
        if c.isdigit() or (i == 0 and c in "+-"):
            digits += c
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return 0
