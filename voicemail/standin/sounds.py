"""Which prompts exist and how long they play.

A sound named by an absolute path is looked up on disk at the moment it is played, as Asterisk does
(``<path>.<ext>`` for the formats below, in that order); its length comes from the file. A relative
name is a stock prompt: one of the English core sounds app_voicemail and say.c use (or a file under
the configured ``sounds_dir``). Lengths of the prompts the captures played are measured values
(STREAM FILE ``endpos`` samples, or CEL STREAM_BEGIN..STREAM_END); any other stock prompt plays for
``DEFAULT_SECONDS``.
"""

from __future__ import annotations

import os
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

RATE = 8000
DEFAULT_SECONDS = 0.85

# format extension -> (bytes, samples) per block, for files without a RIFF header
_RAW_FORMATS = {"gsm": (33, 160), "ulaw": (1, 1), "alaw": (1, 1), "sln": (2, 1), "g722": (1, 2)}
SEARCH_EXTENSIONS = ("wav", "WAV", "gsm", "ulaw", "alaw", "sln", "g722")

# Samples of a complete STREAM FILE (its endpos), captures q4, q9 and q9c.
MEASURED_SAMPLES = {"hello-world": 11234, "vm-youhave": 7253, "vm-INBOX": 6713, "vm-messages": 8572,
                    "vm-goodbye": 6920}
# Seconds from CEL STREAM_BEGIN to STREAM_END, captures q1, q1b, q5, q7b, q9, q9c, q11.
MEASURED_SECONDS = {
    "vm-theperson": 2.0374, "vm-isunavail": 1.2425, "vm-isonphone": 1.2, "vm-intro": 5.0, "beep": 0.4233,
    "vm-mailboxfull": 4.1414, "custom/lab-message": 10.1129, "vm-password": 1.082,
    "digits/0": 0.8726, "digits/1": 0.9091, "digits/2": 0.7449, "digits/3": 0.836, "digits/5": 0.818,
    "digits/6": 0.879, "digits/20": 0.928, "digits/thousand": 0.891, "digits/at": 0.687,
    "digits/day-4": 0.898, "digits/mon-11": 1.026, "digits/h-3": 0.672, "digits/oh": 0.58, "digits/p-m": 0.868,
}

_VM = [
    "Family", "Friends", "INBOX", "Old", "Urgent", "Work", "advopts", "and", "calldiffnum", "changeto",
    "delete", "deleted", "dialout", "duration", "enter-num-to-call", "extension", "first", "for", "forward",
    "forwardoptions", "from", "from-extension", "from-phonenumber", "goodbye", "have", "haveno", "helpexit",
    "incorrect", "incorrect-mailbox", "intro", "invalid-password", "isonphone", "isunavail", "last",
    "leavemsg", "listen", "login", "mailboxfull", "marked-nonurgent", "marked-urgent", "message", "messages",
    "minutes", "mismatch", "msgforwarded", "msgsaved", "new", "newpassword", "newuser", "next", "no", "nobox",
    "nomessages", "nomore", "nonewmessages", "nonumber", "nothingrecorded", "num-i-have", "number", "old",
    "onefor", "onefor-full", "options", "opts", "opts-full", "passchanged", "password", "pls-try-again",
    "prepend-timeout", "press", "prev", "reachoper", "rec-busy", "rec-name", "rec-temp", "rec-unv",
    "record-prepend", "reenterpassword", "repeat", "review", "review-nonurgent", "review-urgent", "saved",
    "savedto", "savefolder", "savemessage", "saveoper", "sorry", "speakup", "star-cancel", "starmain",
    "tempgreetactive", "tempgreeting", "tempgreeting2", "tempremoved", "then-pound", "theperson", "tmpexists",
    "tocallback", "tocallnum", "tocancel", "tocancelmsg", "toenternumber", "toforward", "tohearenv",
    "tomakecall", "tooshort", "toreply", "torerecord", "undelete", "undeleted", "unknown-caller", "whichbox",
    "you", "youhave", "youhaveno", "received",
]
_DIGITS = (
    [str(n) for n in range(21)] + [str(n) for n in range(30, 100, 10)]
    + [f"day-{n}" for n in range(7)] + [f"mon-{n}" for n in range(12)] + [f"h-{n}" for n in range(1, 32)]
    + [
        "hundred", "thousand", "million", "billion", "minus", "star", "pound", "oh", "oclock", "at", "a-m",
        "p-m", "today", "yesterday", "tomorrow",
    ]
)
STOCK = frozenset(
    [f"vm-{n}" for n in _VM] + [f"digits/{n}" for n in _DIGITS]
    + [f"letters/{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    + [f"letters/{n}" for n in ("at", "dash", "dot", "dollar", "equals", "plus", "slash", "space",
                                "exclaimation-point")]
    + ["uppercase", "lowercase"]
    + [
        "beep", "hello-world", "custom/lab-message", "auth-thankyou", "auth-incorrect", "silence/1",
        "silence/2", "goodbye",
    ]
)


@dataclass(frozen=True)
class Sound:
    name: str
    samples: int

    @property
    def seconds(self) -> float:
        return self.samples / RATE


def file_samples(path: Path) -> int | None:
    """The length in 8 kHz samples of a sound file, or None when it is not a readable sound file."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return None
    ext = path.suffix[1:]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _riff_samples(path, size)
    block = _RAW_FORMATS.get(ext)
    if block is None:
        return None
    return size // block[0] * block[1]


def _riff_samples(path: Path, size: int) -> int | None:
    data = path.read_bytes()[:4096]
    pos, fmt_tag, rate, block_align, _channels = 12, 1, RATE, 2, 1
    while pos + 8 <= len(data):
        cid, clen = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if cid == b"fmt ":
            fmt_tag, _channels, rate, _, block_align = struct.unpack("<HHIIH", data[pos + 8:pos + 22])
        elif cid == b"data":
            length: int = min(int(clen), size - pos - 8)
            if fmt_tag == 49:  # GSM 6.10 (wav49): 65 bytes hold 320 samples
                return length // 65 * 320
            if block_align <= 0 or rate <= 0:
                return None
            return int(length // block_align * RATE / rate)
        pos += 8 + clen + (clen & 1)
    return None


def find_file(base: Path) -> Path | None:
    """``<base>.<ext>`` for the first supported extension that exists and can be read."""
    for ext in SEARCH_EXTENSIONS:
        candidate = base.with_name(f"{base.name}.{ext}")
        if candidate.is_file() and os.access(candidate, os.R_OK):
            return candidate
    return None


def rooted(name: str, root: Path | None) -> Path:
    """An absolute file name as the stand-in sees it: under ``root`` when one is configured."""
    if root is None:
        return Path(name)
    return root / name.lstrip("/")


def lookup(name: str, sounds_dir: Path | None = None, root: Path | None = None) -> Sound | None:
    """The sound ``name`` as Asterisk's ``ast_openstream`` would find it now, or None when missing."""
    if not name:
        return None
    if name.startswith("/"):
        if ".." in Path(name).parts and root is not None:
            return None
        found = find_file(rooted(name, root))
        samples = file_samples(found) if found is not None else None
        return Sound(name, samples) if samples is not None else None
    if ".." in Path(name).parts:
        return None
    if sounds_dir is not None:
        found = find_file(sounds_dir / name)
        if found is not None:
            samples = file_samples(found)
            return Sound(name, samples) if samples is not None else None
    if name in MEASURED_SAMPLES:
        return Sound(name, MEASURED_SAMPLES[name])
    if name in STOCK:
        return Sound(name, round(MEASURED_SECONDS.get(name, DEFAULT_SECONDS) * RATE))
    return None


def stock_seconds(name: str) -> float:
    """Seconds a prompt plays (measured, or the default) -- for applications that do not check files."""
    if name in MEASURED_SAMPLES:
        return MEASURED_SAMPLES[name] / RATE
    return MEASURED_SECONDS.get(name, DEFAULT_SECONDS)


MAX_SPEECH_SAMPLES = RATE * 600


def pcm_of(name: str, sounds_dir: Path | None = None, root: Path | None = None) -> bytes | None:
    """The 16-bit 8 kHz mono samples of a sound file on disk (a PCM ``.wav`` or ``.sln``), or None."""
    if name.startswith("/"):
        found = find_file(rooted(name, root)) if ".." not in Path(name).parts else None
    else:
        found = find_file(sounds_dir / name) if sounds_dir is not None and ".." not in Path(name).parts else None
    if found is None:
        return None
    try:
        if found.suffix == ".sln":
            return found.read_bytes()[:2 * MAX_SPEECH_SAMPLES]
        if found.suffix != ".wav":
            return None
        with wave.open(str(found), "rb") as w:
            if (w.getframerate(), w.getsampwidth(), w.getnchannels()) != (RATE, 2, 1):
                return None
            return w.readframes(MAX_SPEECH_SAMPLES)
    except (OSError, EOFError, wave.Error):
        return None
