"""Tiny valid silent recordings, one per Asterisk file format, to stand in for stripped audio.

app_voicemail needs an audio file beside every msgNNNN.txt: without one, VoicemailMove duplicates the
message and VoicemailRemove removes nothing (capture q8). So the recording is replaced, never deleted,
by one of these. The format is named by the file extension exactly as Asterisk wrote it (``wav`` is
16-bit PCM, ``WAV`` is wav49 = GSM 6.10 in RIFF; case matters).
"""

from __future__ import annotations

import struct

from voicemail.domain.errors import UnsupportedFormat

_PCM_FRAMES = 8  # q8: "a 60-byte valid PCM WAV (8 kHz, 16-bit mono, 8 frames of silence)"

# One GSM 06.10 frame (160 samples) of silence: the frame Asterisk's format_gsm writes to pad a file.
GSM_SILENCE_FRAME = bytes.fromhex("d820a2e15a50004924924924500049249249245000492492492450004924924924")
# One Microsoft-GSM block (two GSM frames packed into 65 bytes, 320 samples) of silence: the block
# Asterisk's format_wav_gsm writes to pad a wav49 file.
MSGSM_SILENCE_BLOCK = bytes.fromhex(
    "4817d6840280244992248902802449922489028024499224890280244992240982"
    "74614d2800489224499228004892244992280048922449922800489224499200"
)
MSGSM_BLOCK_SAMPLES = 320
MSGSM_HEADER_BYTES = 60


def _pcm_wav(rate: int, frames: int) -> bytes:
    """Canonical 44-byte RIFF/WAVE PCM header (as Asterisk's format_wav writes it) + silent frames."""
    data = b"\x00\x00" * frames
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + (8 + len(fmt)) + (8 + len(data)))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


def _wav49(blocks: int) -> bytes:
    """RIFF/WAVE GSM 6.10 (format tag 0x31) in the exact 60-byte layout of Asterisk's format_wav_gsm.

    fmt chunk of 20 bytes: tag 49, 1 channel, 8000 Hz, 1625 bytes/s, block align 65, 0 bits/sample,
    cbSize 2, 320 samples per block; then a ``fact`` chunk (sample count) and the ``data`` chunk. Like
    Asterisk 22 (capture format-wav49-msg0016.WAV), the data length is not padded to even.
    """
    data = MSGSM_SILENCE_BLOCK * blocks
    fmt = struct.pack("<HHIIHHHH", 0x31, 1, 8000, 1625, 65, 0, 2, MSGSM_BLOCK_SAMPLES)
    fact = struct.pack("<I", blocks * MSGSM_BLOCK_SAMPLES)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"fact"
        + struct.pack("<I", len(fact))
        + fact
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


_WAV = _pcm_wav(8000, _PCM_FRAMES)
_WAV16 = _pcm_wav(16000, _PCM_FRAMES)
_WAV49 = _wav49(1)
_ULAW = b"\xff" * _PCM_FRAMES  # mu-law of linear 0
_ALAW = b"\xd5" * _PCM_FRAMES  # A-law of linear 0
_SLIN = b"\x00\x00" * _PCM_FRAMES  # signed linear 16-bit, host (little) endian
# G.722 (2 samples per byte at 16 kHz): 0xFA carries the smallest-step code of both sub-bands, which is
# what an encoder emits for digital silence from its reset state; it decodes to a few LSB at most.
_G722 = b"\xfa" * _PCM_FRAMES

_PLACEHOLDERS: dict[str, bytes] = {
    "wav": _WAV,
    "wav16": _WAV16,
    "WAV": _WAV49,
    "wav49": _WAV49,
    "gsm": GSM_SILENCE_FRAME,
    "ulaw": _ULAW,
    "pcm": _ULAW,
    "ul": _ULAW,
    "mu": _ULAW,
    "ulw": _ULAW,
    "alaw": _ALAW,
    "al": _ALAW,
    "alw": _ALAW,
    "sln": _SLIN,
    "raw": _SLIN,
    "g722": _G722,
}

SUPPORTED_FORMATS = frozenset(_PLACEHOLDERS)


def placeholder_bytes(fmt: str) -> bytes:
    """The placeholder for ``fmt`` (file extension as Asterisk wrote it); UnsupportedFormat otherwise."""
    try:
        return _PLACEHOLDERS[fmt]
    except KeyError:
        raise UnsupportedFormat(f"no placeholder for audio format {fmt[:16]!r}") from None


def is_placeholder_bytes(fmt: str, data: bytes) -> bool:
    """True when ``data`` is exactly our placeholder for ``fmt``."""
    return data == placeholder_bytes(fmt)
