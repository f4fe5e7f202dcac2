"""Retry a message's custody by hand: after a poison recording's cause is fixed, after a volume that was
full for longer than custody_retry_for has space again, or whenever a message is parked as dead letter.

The database state is changed first (dead letters resolved, crash count cleared, due for the sweeper),
then the seal is handed to the workers if a broker is there; if that hand-over fails the sweeper does it.
Nothing here needs the recording: a message whose custody is done or over is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class RetryStore(Protocol):
    def requeue_message(self, message_id: str, *, due_now: bool) -> str: ...


def retry_message(store: RetryStore, message_id: str, enqueue: Callable[[str], None] | None) -> str:
    """Put the message's custody back in line. ``enqueue``: hand the seal to the workers now (broker
    mode); None leaves it to the next sweep. Returns the state it is in ("discovered" or "sealed")."""
    state = store.requeue_message(message_id, due_now=enqueue is None)
    log.warning("custody of message %s retried by hand (state %s)", message_id, state)
    if enqueue is not None:
        try:
            enqueue(message_id)
        except Exception as exc:  # the broker is down: the row is due, the sweeper re-enqueues it
            log.warning("could not enqueue message %s (%s); the sweeper will", message_id, type(exc).__name__)
    return state
