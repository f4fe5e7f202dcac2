"""A sliding-window rate limit per key (the client address of sign-in attempts), in memory.

Per process: `voicemail web` is one process; behind several processes each enforces its own window
(the per-account lockout, kept in the database, still holds across them)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> bool:
        """Record one attempt by ``key``; False when it is over the limit (the attempt must be refused)."""
        now = self._clock()
        with self._lock:
            if len(self._hits) >= self._max_keys:
                self._prune(now)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self._window:
                hits.popleft()
            if len(hits) >= self._limit:
                return False
            hits.append(now)
            return True

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self._window]:
            del self._hits[key]
        if len(self._hits) >= self._max_keys:  # still full of active keys: forget the oldest
            for key in sorted(self._hits, key=lambda k: self._hits[k][-1])[: self._max_keys // 10]:
                del self._hits[key]
