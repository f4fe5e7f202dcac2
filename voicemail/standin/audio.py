"""Recordings as app_voicemail writes them: ``wav`` (16-bit PCM, mono, 8 kHz, 44-byte RIFF header)
and ``WAV`` (wav49: Microsoft GSM 6.10 in RIFF, 60-byte header, 65-byte blocks of 320 samples).

The stand-in cannot encode GSM; its wav49 files carry real GSM blocks taken from the lab recording
``format-wav49-msg0016.WAV`` (templates/wav49_blocks.bin), repeated to the message's length. They are
valid GSM frames in the exact layout of Asterisk's format_wav_gsm, but do not sound like the PCM file.
"""

from __future__ import annotations

import math
import random
import struct
from importlib import resources

from voicemail.domain.errors import InvalidInput

RATE = 8000
GSM_BLOCK = 65
GSM_BLOCK_SAMPLES = 320
# The lab's standard message (greeting + beep, then the rest of the 10.1 s prompt) is 3.832 s long.
LAB_MESSAGE_SAMPLES = 30656


def lab_recording_samples(record_seconds: float) -> int:
    """Samples a lab recording of ``record_seconds`` (beep end -> hangup) leaves in the file."""
    if abs(record_seconds - 3.847) < 0.05:
        return LAB_MESSAGE_SAMPLES
    return max(0, int((record_seconds - 0.015) * RATE))


_BASE_SECONDS = 12
_base_cache: list[bytes] = []


def warm() -> None:
    """Synthesise the base signal now (takes ~0.3 s once per process)."""
    if not _base_cache:
        _base_cache.append(_synthesise(_BASE_SECONDS * RATE, 20261129))


def generate_pcm(samples: int, seed: int) -> bytes:
    """Deterministic, speech-like 16-bit PCM that differs per ``seed``: a cached 12 s base signal
    (drifting tones, syllable envelopes, noise) rotated by a seeded offset, with a seeded noise burst
    over its first 20 ms. Cheap enough to run on the event loop for every message."""
    warm()
    base = _base_cache[0]
    rng = random.Random(seed)
    offset = 2 * rng.randrange(len(base) // 2)
    rotated = base[offset:] + base[:offset]
    while len(rotated) < samples * 2:
        rotated += rotated
    pcm = bytearray(rotated[: samples * 2])
    for i in range(min(samples, RATE // 50)):
        struct.pack_into("<h", pcm, 2 * i, rng.randint(-2000, 2000))
    return bytes(pcm)


def _synthesise(samples: int, seed: int) -> bytes:
    rng = random.Random(seed)
    f1, f2, f3 = 180.0 + rng.random() * 60, 700.0 + rng.random() * 300, 1900.0 + rng.random() * 500
    out = bytearray()
    phase1 = phase2 = phase3 = 0.0
    for n in range(samples):
        t = n / RATE
        syllable = 0.5 * (1 - math.cos(2 * math.pi * ((t * 3.7) % 1.0)))
        wobble = 1 + 0.05 * math.sin(2 * math.pi * 0.8 * t)
        phase1 += 2 * math.pi * f1 * wobble / RATE
        phase2 += 2 * math.pi * f2 * wobble / RATE
        phase3 += 2 * math.pi * f3 / RATE
        value = (0.45 * math.sin(phase1) + 0.25 * math.sin(phase2) + 0.08 * math.sin(phase3)) * syllable
        value += (rng.random() - 0.5) * 0.06
        out += struct.pack("<h", max(-32768, min(32767, int(value * 12000))))
    return bytes(out)


def pcm_wav(pcm: bytes) -> bytes:
    """A canonical RIFF/WAVE PCM file (as format_wav writes it)."""
    if len(pcm) % 2:
        pcm = pcm[:-1]
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(pcm)) + pcm)


def _gsm_blocks() -> bytes:
    return resources.files("voicemail.standin").joinpath("templates/wav49_blocks.bin").read_bytes()


def wav49(samples: int) -> bytes:
    """A wav49 file of ``samples`` samples (rounded up to whole GSM blocks)."""
    source = _gsm_blocks()
    count = len(source) // GSM_BLOCK
    blocks = max(1, -(-samples // GSM_BLOCK_SAMPLES))
    data = b"".join(source[(i % count) * GSM_BLOCK:(i % count + 1) * GSM_BLOCK] for i in range(blocks))
    fmt = struct.pack("<HHIIHHHH", 0x31, 1, RATE, 1625, GSM_BLOCK, 0, 2, GSM_BLOCK_SAMPLES)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", 4)
            + struct.pack("<I", blocks * GSM_BLOCK_SAMPLES) + b"data" + struct.pack("<I", len(data)) + data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def caller_recording(audio: bytes) -> tuple[bytes, bytes]:
    """Caller-supplied audio -> (the ``wav`` file to write, its PCM samples).

    A RIFF file is written exactly as given (even truncated or odd: the spool must hold what was
    "recorded"), its PCM taken from the ``data`` chunk as far as it goes; anything else is taken as raw
    16-bit LE mono 8 kHz samples and wrapped in a canonical header."""
    if not audio.startswith(b"RIFF"):
        pcm = audio[: len(audio) - len(audio) % 2]
        return pcm_wav(pcm), pcm
    pos = 12
    while pos + 8 <= len(audio):
        chunk, size = audio[pos:pos + 4], struct.unpack("<I", audio[pos + 4:pos + 8])[0]
        if chunk == b"data":
            body = audio[pos + 8:pos + 8 + size]
            return audio, body[: len(body) - len(body) % 2]
        pos += 8 + size + (size & 1)
    body = audio[44:]
    return audio, body[: len(body) - len(body) % 2]


def render(ext: str, pcm: bytes, wav_file: bytes | None = None) -> bytes:
    """The file content for one format extension (``wav_file``: the caller's own ``wav`` file)."""
    if ext == "wav":
        return wav_file if wav_file is not None else pcm_wav(pcm)
    if ext == "WAV":
        return wav49(len(pcm) // 2)
    raise InvalidInput(f"unsupported audio format {ext!r}")


def seconds(pcm: bytes) -> float:
    return len(pcm) / 2 / RATE
