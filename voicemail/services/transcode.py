"""Asterisk's "wav49" (GSM 6.10 in RIFF/WAVE, files ``.WAV``) to PCM WAV for the browser, streaming.

GSM 6.10 as Microsoft packs it: blocks of 65 bytes, each decoding to 320 samples (two 160-sample GSM
frames). So the decoded size is known before decoding: a 44-byte PCM WAV header + 640 bytes per block
(16-bit mono). We write the header ourselves and let ffmpeg (found as pydub finds it:
``pydub.utils.get_encoder_name`` + ``which``) decode raw PCM through pipes, block-aligned from the first
block a byte range needs: a seek decodes only from there (one block earlier, to warm the decoder up),
memory stays flat and nothing touches the disk. pydub's AudioSegment is not used: it loads everything.

The bytes of a range served from the middle can differ in the first few samples from a decode of the
whole file (GSM's predictor state starts fresh after a seek); lengths and positions are exact.
"""

from __future__ import annotations

import contextlib
import struct
import subprocess
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from voicemail.domain.errors import InvalidInput

GSM_BLOCK = 65
GSM_SAMPLES = 320
PCM_BLOCK = GSM_SAMPLES * 2
PCM_HEADER = 44
WAVE_FORMAT_GSM610 = 0x0031
WARMUP_BLOCKS = 1
PIPE_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Wav49Layout:
    fmt_chunk: bytes  # the whole "fmt " chunk (id, size, body), copied into the header fed to ffmpeg
    sample_rate: int
    data_offset: int  # where the GSM blocks start in the original file
    blocks: int

    @property
    def pcm_size(self) -> int:
        return PCM_HEADER + self.blocks * PCM_BLOCK


def parse_wav49(head: bytes, file_size: int) -> Wav49Layout:
    """The layout of a GSM 6.10 WAV from its first bytes (``head``: at least up to the data chunk)."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise InvalidInput("not a RIFF/WAVE file")
    pos = 12
    fmt_chunk: bytes | None = None
    rate = 8000
    while pos + 8 <= len(head):
        cid, size = head[pos:pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if cid == b"fmt ":
            body = head[pos + 8:pos + 8 + size]
            if len(body) < 16:
                raise InvalidInput("truncated fmt chunk")
            tag, channels, rate, _rate_bytes, align = struct.unpack_from("<HHIIH", body)
            if tag != WAVE_FORMAT_GSM610 or channels != 1 or align != GSM_BLOCK:
                raise InvalidInput("not mono GSM 6.10 (wav49) audio")
            fmt_chunk = head[pos:pos + 8 + size + (size & 1)]
        elif cid == b"data":
            if fmt_chunk is None:
                raise InvalidInput("data chunk before the fmt chunk")
            start = pos + 8
            available = max(0, min(size, file_size - start))
            return Wav49Layout(fmt_chunk, rate, start, available // GSM_BLOCK)
        pos += 8 + size + (size & 1)
    raise InvalidInput("no data chunk in the first bytes of the file")


def pcm_wav_header(rate: int, data_bytes: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data_bytes))


def _gsm_wav_header(layout: Wav49Layout, blocks: int) -> bytes:
    data = blocks * GSM_BLOCK
    body = b"WAVE" + layout.fmt_chunk + b"data" + struct.pack("<I", data)
    return b"RIFF" + struct.pack("<I", len(body) + data) + body


def ffmpeg_path() -> str:
    """ffmpeg as pydub finds it (``get_encoder_name`` + ``which``)."""
    with warnings.catch_warnings():  # pydub imports the deprecated audioop module
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub.utils import get_encoder_name, which

    name = get_encoder_name()
    path = which(name) if name else None
    if not path or "avconv" in str(path):
        raise InvalidInput("ffmpeg is not installed; wav49 audio cannot be transcoded for the browser")
    return str(path)


def transcode_range(layout: Wav49Layout, read_gsm: Callable[[int, int], Iterator[bytes]], start: int, end: int,
                    *, ffmpeg: str | None = None) -> tuple[Iterator[bytes], Callable[[], None]]:
    """Bytes ``start..end`` (inclusive) of the decoded PCM WAV. ``read_gsm(offset, end)`` yields the
    original file's bytes (inclusive range). Returns (chunks, close)."""
    total = layout.pcm_size
    if not 0 <= start <= end < total:
        raise InvalidInput("range outside the decoded audio")
    header = pcm_wav_header(layout.sample_rate, layout.blocks * PCM_BLOCK)
    procs: list[subprocess.Popen[bytes]] = []

    def close() -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()

    def chunks() -> Iterator[bytes]:
        if start < PCM_HEADER:
            yield header[start:min(end, PCM_HEADER - 1) + 1]
        if end < PCM_HEADER:
            return
        pcm_start, pcm_end = max(start, PCM_HEADER) - PCM_HEADER, end - PCM_HEADER
        first, last = pcm_start // PCM_BLOCK, pcm_end // PCM_BLOCK
        feed_from = max(0, first - WARMUP_BLOCKS)
        skip = (first - feed_from) * PCM_BLOCK + (pcm_start - first * PCM_BLOCK)
        want = pcm_end - pcm_start + 1
        try:
            yield from _decode(layout, read_gsm, feed_from, last, skip, want, ffmpeg or ffmpeg_path(), procs)
        finally:
            close()

    return chunks(), close


def _decode(layout: Wav49Layout, read_gsm: Callable[[int, int], Iterator[bytes]], first: int, last: int,
            skip: int, want: int, ffmpeg: str, procs: list[subprocess.Popen[bytes]]) -> Iterator[bytes]:
    blocks = last - first + 1
    proc = subprocess.Popen(
        [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "wav", "-i", "pipe:0",
         "-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-ar", str(layout.sample_rate), "pipe:1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    procs.append(proc)
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            stdin.write(_gsm_wav_header(layout, blocks))
            begin = layout.data_offset + first * GSM_BLOCK
            for piece in read_gsm(begin, begin + blocks * GSM_BLOCK - 1):
                stdin.write(piece)
        except (BrokenPipeError, ValueError, OSError):
            pass  # ffmpeg stopped (the response was closed early)
        except BaseException as exc:  # e.g. IntegrityError from the vault: surfaces in the reader
            failure.append(exc)
            proc.kill()
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    writer = threading.Thread(target=feed, name="wav49-feed", daemon=True)
    writer.start()
    sent = 0
    while sent < want:
        data = stdout.read1(PIPE_CHUNK)  # type: ignore[attr-defined]
        if not data:
            break
        if skip:
            cut = min(skip, len(data))
            data, skip = data[cut:], skip - cut
        if data:
            data = data[:want - sent]
            sent += len(data)
            yield data
    writer.join(timeout=5)
    if failure:
        raise failure[0]
    while sent < want:  # ffmpeg gave fewer samples than the blocks promise: keep the length exact
        pad = min(PIPE_CHUNK, want - sent)
        sent += pad
        yield bytes(pad)
