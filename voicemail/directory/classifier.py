"""The classifier the services use: the pure rule (classify.decide) plus a counter per verdict and a log
line per external decision. The log names the verdict and the envelope's msg_id (Asterisk's id, not
caller data) and never the caller's number or name. A directory failure is a WARNING, since while it
lasts every caller is external.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from voicemail.directory.classify import Verdict, decide
from voicemail.domain.models import Caller, Envelope
from voicemail.domain.ports import Directory

log = logging.getLogger("voicemail.directory.classify")


class ClassificationCounters:
    """Thread-safe counts of verdicts since start (``snapshot()`` for a status page or metrics exporter)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def inc(self, verdict: Verdict) -> None:
        with self._lock:
            self._counts[verdict.value] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {v.value: self._counts[v.value] for v in Verdict}


class Classifier:
    def __init__(self, internal_contexts: frozenset[str], directory: Directory,
                 counters: ClassificationCounters | None = None) -> None:
        self._contexts = frozenset(internal_contexts)
        self._directory = directory
        self.counters = counters or ClassificationCounters()

    def __call__(self, envelope: Envelope) -> Caller:
        caller, verdict = decide(envelope, self._contexts, self._directory)
        self.counters.inc(verdict)
        if verdict is Verdict.DIRECTORY_UNAVAILABLE:
            log.warning("caller of message %s classified external: the directory is unavailable or stale",
                        _msg_id(envelope))
        elif verdict is not Verdict.INTERNAL:
            log.debug("caller of message %s classified external: %s", _msg_id(envelope), verdict.value)
        return caller


def _msg_id(envelope: Envelope) -> str:
    """Asterisk's msg_id, only if it has the shape Asterisk gives it (the spool parser checks it too)."""
    value = envelope.msg_id
    return value if value.replace("-", "").isalnum() and len(value) <= 40 else "(unnamed)"
