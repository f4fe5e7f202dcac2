"""RECORD FILE (res_agi.c ``handle_recordfile``, Asterisk 22.10.1): an optional beep, then the caller is
recorded into ``<file>.<format>`` until a key of the escape list, the timeout or a hangup.

The stand-in hears the caller as silence for as long as the recording runs (a real phone sends frames
all the time), except while the caller's script plays a PCM file (``Playback``), which is recorded;
``endpos`` counts 20 ms frames of recorded samples; ``s=`` silence detection is not simulated.
Result lines: ``200 result=<key> (dtmf) endpos=<n>`` (the last 200 ms cut), ``200 result=0 (timeout)
endpos=<n>``, ``200 result=-1 (hangup) endpos=<n>``, ``200 result=-1 (writefile)`` when the file
cannot be created (that ends the AGI session), and ``(randomerror)`` when a key or a hangup
interrupts the beep.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from pathlib import Path

from voicemail.standin import events, sounds
from voicemail.standin.agi_play import FRAME, AgiResult, Clock, escape_digits, failed
from voicemail.standin.audio import pcm_wav, wav49
from voicemail.standin.call import Call
from voicemail.standin.channel import Channel

BEEP = "beep"
RECORD_FORMATS = {"wav": "wav", "wav49": "WAV", "sln": "sln", "ulaw": "ulaw", "alaw": "alaw"}
RECORD_REWIND = 1600             # a DTMF-ended recording is cut by 200 ms
MAX_RECORD_SECONDS = 3600.0


async def record_file(call: Call, ch: Channel, args: list[str]) -> AgiResult | None:
    """``RECORD FILE <file> <format> <escape> <timeout ms> [offset] [BEEP] [s=silence]``: writes
    ``<file>.<format>``; the caller is heard as silence for as long as the recording runs."""
    if len(args) < 6 or not args[5].lstrip("-").isdigit():
        return None
    ms = int(args[5])
    offset = int(args[6]) if len(args) > 6 and args[6].isdigit() else 0
    beep = (len(args) > 6 and not args[6].isdigit() and not args[6].startswith("s=")) or (
        len(args) > 7 and not args[7].startswith("s="))
    if beep:
        sound = sounds.lookup(BEEP)
        call.cel(ch, "STREAM_BEGIN", extra=events.cel_stream_extra(BEEP))
        got = await call.listen(ch, sound.seconds if sound else 0.4233, escape_digits(args[4]))
        call.cel(ch, "STREAM_END")
        if got is False:
            return AgiResult(f"200 result=-1 (randomerror) endpos={offset}")
        if isinstance(got, str):
            return AgiResult(f"200 result={ord(got)} (randomerror) endpos={offset}")
    ext = RECORD_FORMATS.get(args[3])
    path = _record_path(call, args[2], ext)
    if path is None or not _writable(path):
        return failed("200 result=-1 (writefile)", gone=False)
    clock = Clock(call)
    limit = min(MAX_RECORD_SECONDS, ms / 1000) if ms >= 0 else MAX_RECORD_SECONDS
    got = await call.listen(ch, limit, escape_digits(args[4]))
    samples = offset + math.floor(clock.seconds() * sounds.RATE / FRAME) * FRAME
    if isinstance(got, str):
        samples = max(0, samples - RECORD_REWIND)
    pcm = _heard(call, clock, samples - offset)
    await asyncio.to_thread(_write, path, ext or "wav", offset, pcm)
    if got is False:
        return failed(f"200 result=-1 (hangup) endpos={samples}", gone=True)
    if isinstance(got, str):
        return AgiResult(f"200 result={ord(got)} (dtmf) endpos={samples}")
    return AgiResult(f"200 result=0 (timeout) endpos={samples}")


def _record_path(call: Call, name: str, ext: str | None) -> Path | None:
    """An absolute name (under ``file_root``), or one relative to ``sounds_dir`` as Asterisk's sounds."""
    config = call.pbx.config
    if ext is None or not name or ".." in Path(name).parts:
        return None
    if name.startswith("/"):
        return sounds.rooted(f"{name}.{ext}", config.file_root)
    return config.sounds_dir / f"{name}.{ext}" if config.sounds_dir is not None else None


def _writable(path: Path) -> bool:
    return path.parent.is_dir() and os.access(path.parent, os.W_OK) and not path.is_dir()


def _heard(call: Call, clock: Clock, samples: int) -> bytes:
    """``samples`` of what the caller said from the clock's start on: silence, with the caller's
    Playback steps laid in where they happened."""
    pcm = bytearray(2 * max(0, samples))
    for started, data in call.speech:
        at = round((started - clock.t0) / clock.scale * sounds.RATE)
        src, dst = max(0, -at), max(0, at)
        length = min(len(data) // 2 - src, samples - dst)
        if length > 0:
            pcm[2 * dst:2 * (dst + length)] = data[2 * src:2 * (src + length)]
    return bytes(pcm)


def _write(path: Path, ext: str, offset: int, pcm: bytes) -> None:
    """``<file>.<ext>``: ``offset`` samples of silence (the offset argument), then ``pcm``."""
    pcm = bytes(2 * offset) + pcm
    samples = len(pcm) // 2
    if ext == "wav":
        data = pcm_wav(pcm)
    elif ext == "WAV":
        data = wav49(samples)
    elif ext == "sln":
        data = pcm
    else:
        data = (b"\xff" if ext == "ulaw" else b"\xd5") * samples
    with contextlib.suppress(OSError):
        path.write_bytes(data)
        path.chmod(0o644)
