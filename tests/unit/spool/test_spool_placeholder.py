"""The placeholders are valid, silent, tiny recordings laid out like Asterisk's own files."""

from __future__ import annotations

import io
import struct
import wave

import pytest

from tests.conftest import CAPTURES
from voicemail.domain.errors import UnsupportedFormat
from voicemail.spool.placeholder import (
    GSM_SILENCE_FRAME,
    MSGSM_SILENCE_BLOCK,
    SUPPORTED_FORMATS,
    is_placeholder_bytes,
    placeholder_bytes,
)


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(id, payload) of each chunk of a RIFF/WAVE file; asserts the container sizes add up."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    chunks, pos = [], 12
    while pos < len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        payload = data[pos + 8 : pos + 8 + size]
        assert len(payload) == size, f"chunk {cid!r} runs past the end"
        chunks.append((cid, payload))
        pos += 8 + size
    return chunks


def test_pcm_wav_placeholder_is_the_60_byte_file_of_q8() -> None:
    data = placeholder_bytes("wav")
    assert len(data) == 60
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.getnframes() == 8
        assert wav.readframes(8) == b"\x00" * 16


def test_pcm_wav_placeholder_has_the_captured_recordings_header_layout() -> None:
    real = (CAPTURES / "msg0000.wav").read_bytes()
    data = placeholder_bytes("wav")
    assert data[12:36] == real[12:36]  # fmt chunk: PCM, mono, 8 kHz, 16000 B/s, align 2, 16 bit
    assert data[36:40] == real[36:40] == b"data"


def test_wav16_placeholder_is_16khz_pcm() -> None:
    with wave.open(io.BytesIO(placeholder_bytes("wav16"))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)


def test_wav49_placeholder_has_the_captured_WAV_header_layout() -> None:
    real = (CAPTURES / "format-wav49-msg0016.WAV").read_bytes()
    data = placeholder_bytes("WAV")
    size_fields = {4, 5, 6, 7, 48, 49, 50, 51, 56, 57, 58, 59}  # RIFF size, fact samples, data size
    assert len(data) == 60 + 65
    assert [b for i, b in enumerate(data[:60]) if i not in size_fields] == [
        b for i, b in enumerate(real[:60]) if i not in size_fields
    ]


def test_wav49_placeholder_sizes_are_consistent_like_asterisks() -> None:
    for data in (placeholder_bytes("WAV"), (CAPTURES / "format-wav49-msg0016.WAV").read_bytes()):
        chunks = dict(riff_chunks(data))
        tag, channels, rate, byte_rate, align, bits, cb, per_block = struct.unpack("<HHIIHHHH", chunks[b"fmt "])
        assert (tag, channels, rate, byte_rate, align, per_block) == (0x31, 1, 8000, 1625, 65, 320)
        assert (bits, cb) == (0, 2)
        blocks, rest = divmod(len(chunks[b"data"]), 65)
        assert rest == 0
        assert struct.unpack("<I", chunks[b"fact"])[0] == blocks * 320
    assert dict(riff_chunks(placeholder_bytes("WAV")))[b"data"] == MSGSM_SILENCE_BLOCK


def test_wav49_placeholder_is_rejected_by_stdlib_wave_only_for_being_gsm() -> None:
    with pytest.raises(wave.Error, match="unknown format: 49"), wave.open(io.BytesIO(placeholder_bytes("WAV"))):
        pass


def test_wav49_is_an_alias_of_WAV() -> None:
    assert placeholder_bytes("wav49") == placeholder_bytes("WAV")


def test_raw_gsm_placeholder_is_one_silent_frame() -> None:
    data = placeholder_bytes("gsm")
    assert data == GSM_SILENCE_FRAME
    assert len(data) == 33
    assert data[0] >> 4 == 0xD  # every GSM 06.10 frame starts with the 0xD signature nibble


@pytest.mark.parametrize(
    ("fmt", "byte", "width"),
    [("ulaw", 0xFF, 1), ("pcm", 0xFF, 1), ("alaw", 0xD5, 1), ("sln", 0x00, 2), ("g722", 0xFA, 1)],
)
def test_raw_placeholders_are_a_few_bytes_of_encoded_silence(fmt: str, byte: int, width: int) -> None:
    data = placeholder_bytes(fmt)
    assert 0 < len(data) <= 16
    assert len(data) % width == 0
    assert set(data) == {byte}


@pytest.mark.parametrize("fmt", ["mp3", "ogg", "txt", "", "WAV16", "Wav"])
def test_unknown_formats_raise_unsupported(fmt: str) -> None:
    with pytest.raises(UnsupportedFormat):
        placeholder_bytes(fmt)


def test_format_names_are_case_sensitive_like_asterisks_extensions() -> None:
    assert placeholder_bytes("wav") != placeholder_bytes("WAV")


@pytest.mark.parametrize("fmt", sorted(SUPPORTED_FORMATS))
def test_is_placeholder_bytes_recognises_only_the_exact_placeholder(fmt: str) -> None:
    data = placeholder_bytes(fmt)
    assert is_placeholder_bytes(fmt, data)
    assert not is_placeholder_bytes(fmt, data + b"\x00")
    assert not is_placeholder_bytes(fmt, data[:-1])
    assert not is_placeholder_bytes(fmt, b"")


def test_a_real_recording_is_not_a_placeholder() -> None:
    assert not is_placeholder_bytes("wav", (CAPTURES / "msg0000.wav").read_bytes())
    assert not is_placeholder_bytes("WAV", (CAPTURES / "format-wav49-msg0016.WAV").read_bytes())
