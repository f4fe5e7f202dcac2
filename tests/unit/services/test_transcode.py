"""wav49 (GSM 6.10 WAV, as Asterisk writes it) -> PCM WAV through ffmpeg pipes: the computed size is
the decoded size, the stream is a valid WAV, and a range from the middle has the promised bytes."""

from __future__ import annotations

import io
import subprocess
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.requirements import require_binary
from voicemail.domain.errors import InvalidInput
from voicemail.services.transcode import (
    PCM_BLOCK,
    PCM_HEADER,
    ffmpeg_path,
    parse_wav49,
    transcode_range,
)


@pytest.fixture
def gsm(captures: Path) -> bytes:
    return (captures / "format-wav49-msg0016.WAV").read_bytes()


@pytest.fixture
def ffmpeg() -> str:
    return require_binary("ffmpeg", package="ffmpeg")


def reader(data: bytes) -> Callable[[int, int], Iterator[bytes]]:
    def read(start: int, end: int) -> Iterator[bytes]:
        for pos in range(start, end + 1, 1000):
            yield data[pos:min(end + 1, pos + 1000)]
    return read


def full_decode(data: bytes) -> bytes:
    """ffmpeg's own decode of the whole file (the reference)."""
    out = subprocess.run([ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-f", "wav", "-i", "pipe:0",
                          "-f", "s16le", "pipe:1"], input=data, capture_output=True, check=True)
    return out.stdout


def test_the_capture_layout_is_read_from_its_header(gsm: bytes) -> None:
    layout = parse_wav49(gsm[:4096], len(gsm))
    assert (layout.sample_rate, layout.data_offset, layout.blocks) == (8000, 60, 99)
    assert layout.pcm_size == PCM_HEADER + 99 * PCM_BLOCK


def test_whole_transcode_is_a_valid_wav_equal_to_a_full_decode(gsm: bytes, ffmpeg: str) -> None:
    layout = parse_wav49(gsm[:4096], len(gsm))
    chunks, close = transcode_range(layout, reader(gsm), 0, layout.pcm_size - 1)
    out = b"".join(chunks)
    close()
    assert len(out) == layout.pcm_size
    with wave.open(io.BytesIO(out)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 8000, 99 * 320)
        assert w.readframes(w.getnframes()) == full_decode(gsm)


def test_a_range_from_the_middle_has_exact_length_and_nearly_the_same_samples(gsm: bytes, ffmpeg: str) -> None:
    layout = parse_wav49(gsm[:4096], len(gsm))
    reference = full_decode(gsm)
    start, end = PCM_HEADER + 50 * PCM_BLOCK + 100, PCM_HEADER + 80 * PCM_BLOCK + 7
    chunks, close = transcode_range(layout, reader(gsm), start, end)
    out = b"".join(chunks)
    close()
    assert len(out) == end - start + 1
    expected = reference[start - PCM_HEADER:end - PCM_HEADER + 1]
    same = sum(a == b for a, b in zip(out, expected, strict=True))
    assert same / len(out) > 0.95  # GSM's predictor restarts one block before the seek point


def test_a_range_inside_the_header(gsm: bytes) -> None:
    layout = parse_wav49(gsm[:4096], len(gsm))
    chunks, _close = transcode_range(layout, reader(gsm), 0, 11)
    assert b"".join(chunks) == b"RIFF" + (36 + 99 * PCM_BLOCK).to_bytes(4, "little") + b"WAVE"


def test_a_pcm_wav_is_not_taken_for_wav49(captures: Path) -> None:
    pcm = (captures / "msg0000.wav").read_bytes()
    with pytest.raises(InvalidInput, match="GSM"):
        parse_wav49(pcm[:4096], len(pcm))
