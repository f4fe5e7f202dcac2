"""The owner's audio: decrypted on the fly from the vault, with byte ranges, never on disk.

* A PCM ``wav`` recording is served as it was recorded (``audio/wav``), any range, decrypting only the
  vault chunks the range touches (``voicemail.vault.range_reader``).
* A message that only has Asterisk's GSM ``WAV`` (wav49) is transcoded to PCM WAV for the browser
  (``transcode``), with a known total so ranges work too; ``fmt="original"`` serves the GSM file
  itself (``audio/vnd.wave; codec=31``, RFC 2361).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, Protocol

from voicemail.domain.errors import InvalidInput, NotFound, RangeNotSatisfiable
from voicemail.domain.mailbox import AudioStream, ByteRange
from voicemail.domain.models import SealedRecording, WrappedKey
from voicemail.domain.records import MessageRecord
from voicemail.services.transcode import parse_wav49, transcode_range
from voicemail.vault.range_reader import RangeReader

PCM_TYPE = "audio/wav"
GSM_TYPE = "audio/vnd.wave; codec=31"
HEADER_PROBE = 4096


class KeyUnwrapper(Protocol):
    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes: ...


def resolve_range(byte_range: ByteRange | None, total: int) -> tuple[int, int, bool]:
    """(start, end inclusive, partial) of ``byte_range`` within ``total`` bytes (RFC 9110 14.1.2)."""
    if byte_range is None:
        if total == 0:
            return 0, -1, False
        return 0, total - 1, False
    if byte_range.suffix is not None:
        if byte_range.suffix <= 0 or total == 0:
            raise RangeNotSatisfiable(f"suffix range of {byte_range.suffix} bytes of {total}", total)
        return max(0, total - byte_range.suffix), total - 1, True
    start = byte_range.start
    if start is None or start < 0 or start >= total:
        raise RangeNotSatisfiable(f"range start {start} outside 0-{total - 1}", total)
    end = total - 1 if byte_range.end is None else min(byte_range.end, total - 1)
    if end < start:
        raise RangeNotSatisfiable(f"range end {byte_range.end} before start {start}", total)
    return start, end, True


def choose(record: MessageRecord, fmt: Literal["original", "browser"]) -> tuple[SealedRecording, bool]:
    """The recording to serve and whether it must be transcoded (wav49 for the browser)."""
    by_fmt = {r.fmt: r for r in record.recordings}
    if "wav" in by_fmt:  # PCM: browsers play it as it is, so original and browser are the same
        return by_fmt["wav"], False
    gsm = by_fmt.get("WAV")
    if gsm is not None:
        return gsm, fmt == "browser"
    if fmt == "original" and record.recordings:
        return record.recordings[0], False
    raise NotFound(f"message {record.id} has no playable recording")


class AudioSource:
    """``AudioSource(keyring, blob_path)``: ``blob_path(name)`` is where the vault keeps a blob
    (FileVault.path_for)."""

    def __init__(self, keyring: KeyUnwrapper, blob_path: Callable[[str], Path], ffmpeg: str | None = None) -> None:
        self._keyring = keyring
        self._blob_path = blob_path
        self._ffmpeg = ffmpeg

    def open(self, record: MessageRecord, byte_range: ByteRange | None,
             fmt: Literal["original", "browser"]) -> AudioStream:
        if record.wrapped_key is None or not record.recordings:
            raise NotFound(f"message {record.id} has no sealed audio")
        chosen, transcode = choose(record, fmt)
        key_id = record.id.encode()
        dek = self._keyring.unwrap(record.wrapped_key, key_id)
        reader = RangeReader(self._blob_path(chosen.blob_name), dek, key_id, label=f"message {record.id}",
                             expected_size=chosen.size)
        try:
            if transcode:
                return self._transcoded(reader, byte_range)
            start, end, partial = resolve_range(byte_range, reader.size)
            chunks = _closing(reader.read(start, end), reader.close) if end >= start else _closing(iter(()),
                                                                                                    reader.close)
            return AudioStream(PCM_TYPE if chosen.fmt == "wav" else GSM_TYPE if chosen.fmt == "WAV"
                               else "application/octet-stream", chunks, start, end, reader.size, partial,
                               close=[reader.close])
        except BaseException:
            reader.close()
            raise

    def _transcoded(self, reader: RangeReader, byte_range: ByteRange | None) -> AudioStream:
        try:
            layout = parse_wav49(reader.read_bytes(0, HEADER_PROBE), reader.size)
        except InvalidInput as exc:
            raise NotFound(f"the wav49 recording cannot be decoded: {exc}") from None
        start, end, partial = resolve_range(byte_range, layout.pcm_size)
        chunks, stop = transcode_range(layout, reader.read, start, end, ffmpeg=self._ffmpeg)

        def close() -> None:
            stop()
            reader.close()

        return AudioStream(PCM_TYPE, _closing(chunks, close), start, end, layout.pcm_size, partial, close=[close])


def _closing(chunks: Iterator[bytes], close: Callable[[], None]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        close()
