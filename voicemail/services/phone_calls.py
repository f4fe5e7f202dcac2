"""What became of a "Play on my phone" call, in words the user understands.

The Originate is asynchronous: the web action starts the call and gets a call id at once; the outcome
arrives later as the OriginateResponse (capture q11) and is kept here, in the process that placed the
call, for ``keep_seconds``. ``Reason`` codes: 4 answered, 3 no answer within the ring time, 5 busy,
8 congestion, 0 the phone could not be called; any other failure is reported as such.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from voicemail.ami.mailbox_control import CallOutcome
from voicemail.domain.models import MailboxRef
from voicemail.domain.phone_call import CallState, CallStatus

REASONS: dict[int, CallState] = {4: "answered", 3: "no_answer", 5: "busy", 8: "congestion", 0: "unreachable"}


def state_of(outcome: CallOutcome, *, ended: bool) -> CallState:
    """The user's view of an OriginateResponse (``ended`` False) or of the end of the call."""
    if outcome.result == "answered":
        return "finished" if ended else "answered"
    if outcome.result == "failed":
        state = REASONS.get(outcome.code) if outcome.code is not None else None
        return state if state is not None and state != "answered" else "failed"
    return "failed"


class CallBook:
    """The recent calls of this process (at most ``max_calls``, each kept ``keep_seconds``)."""

    def __init__(self, *, keep_seconds: float = 3600.0, max_calls: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        self._calls: OrderedDict[str, CallStatus] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep_seconds
        self._max = max_calls
        self._clock = clock

    def start(self, mailbox: MailboxRef, message_id: str) -> str:
        call_id = secrets.token_urlsafe(12)
        with self._lock:
            self._prune()
            self._calls[call_id] = CallStatus(call_id, mailbox, message_id, "ringing", self._clock())
        return call_id

    def update(self, call_id: str, outcome: CallOutcome, *, ended: bool) -> None:
        with self._lock:
            current = self._calls.get(call_id)
            if current is None or current.final:  # the first final word stands
                return
            new = state_of(outcome, ended=ended)
            if ended and current.state == "answered":  # whatever we saw of its end, it was answered
                new = "finished"
            self._calls[call_id] = CallStatus(current.id, current.mailbox, current.message_id, new,
                                              current.started_at)

    def forget(self, call_id: str) -> None:
        with self._lock:
            self._calls.pop(call_id, None)

    def get(self, call_id: str) -> CallStatus | None:
        with self._lock:
            return self._calls.get(call_id)

    def _prune(self) -> None:
        cutoff = self._clock() - self._keep
        while self._calls and (len(self._calls) >= self._max or next(iter(self._calls.values())).started_at < cutoff):
            self._calls.popitem(last=False)
