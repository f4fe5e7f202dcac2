"""HTTP Range parsing and streaming of decrypted audio (never written to disk, never cached)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import threading
from collections.abc import Iterator

from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from voicemail.domain.mailbox import AudioStream, ByteRange

log = logging.getLogger(__name__)
_RANGE = re.compile(r"^bytes=(?P<start>[0-9]{0,15})-(?P<end>[0-9]{0,15})$")


def parse_range(header: str | None) -> ByteRange | None:
    """One byte range; None for no header, several ranges or a malformed one (RFC 9110: serve it all)."""
    if not header:
        return None
    m = _RANGE.match(header.strip().replace(" ", ""))
    if m is None:
        return None
    start, end = m.group("start"), m.group("end")
    if not start and not end:
        return None
    if not start:
        return ByteRange(start=None, end=None, suffix=int(end))
    first, last = int(start), (int(end) if end else None)
    if last is not None and last < first:
        return None
    return ByteRange(start=first, end=last)


class _Closer:
    """Runs the stream's close callables exactly once (end of body, disconnect or error)."""

    def __init__(self, stream: AudioStream) -> None:
        self._stream = stream
        self._done = False
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        close = getattr(self._stream.chunks, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()
        for fn in self._stream.close:
            if callable(fn):
                try:
                    fn()
                except Exception:
                    log.exception("closing an audio stream failed")


def _guarded(chunks: Iterator[bytes], closer: _Closer) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        closer()


def download_name(received_at: int) -> str:
    """``voicemail-20261204-093015.wav`` (UTC): nothing about the caller, nothing from the request."""
    return f"voicemail-{dt.datetime.fromtimestamp(received_at, dt.UTC):%Y%m%d-%H%M%S}.wav"


def audio_response(stream: AudioStream, *, attachment: str = "") -> StreamingResponse:
    """The stream as a response; ``attachment`` (a safe file name) makes browsers save it instead of play it."""
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
               "Accept-Ranges": "bytes" if stream.total is not None else "none",
               "Content-Disposition": f'attachment; filename="{attachment}"' if attachment else "inline"}
    if stream.end is not None:
        headers["Content-Length"] = str(stream.end - stream.start + 1)
    status = 200
    if stream.partial:
        status = 206
        total = str(stream.total) if stream.total is not None else "*"
        headers["Content-Range"] = f"bytes {stream.start}-{stream.end}/{total}"
    closer = _Closer(stream)
    return StreamingResponse(_guarded(stream.chunks, closer), status_code=status, media_type=stream.content_type,
                             headers=headers, background=BackgroundTask(closer))
