"""Errors the senders raise, on top of the domain's TransientError / PermanentError.

``RetryLater`` is a TransientError that carries the server's own back-off hint (EWS ``ErrorServerBusy``
with ``BackOffMilliseconds``, HTTP ``Retry-After`` on 429 / 503). The worker uses the hint as the lower
bound of its next countdown. Messages never quote what the server sent back: a response body could echo
the request, and the request may name an internal caller.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from voicemail.domain.errors import TransientError

# A server may ask for a pause, but not for an unbounded one: longer hints are cut to this.
MAX_RETRY_AFTER = 3600.0


class RetryLater(TransientError):
    """Worth retrying, and the server said when: ``retry_after`` seconds from now (None = no hint)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = bound_hint(retry_after)


def bound_hint(seconds: float | None) -> float | None:
    """A usable hint: finite, positive, at most MAX_RETRY_AFTER; anything else means "no hint"."""
    if seconds is None or isinstance(seconds, bool) or not math.isfinite(seconds) or seconds <= 0:
        return None
    return min(float(seconds), MAX_RETRY_AFTER)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """An HTTP ``Retry-After`` value (delta-seconds or an HTTP-date) as seconds from ``now``."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return bound_hint(float(int(text[:12])))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return bound_hint((when - (now or datetime.now(UTC))).total_seconds())


def untrusted_certificate(exc: BaseException) -> bool:
    """True when a TLS failure is the peer's certificate not verifying (a setting to fix, not an outage)."""
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)
