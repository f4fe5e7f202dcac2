"""MWI as app_voicemail publishes it, with the state cache that VoicemailRefresh compares against.

* ``queue_mwi_event`` publishes ``New = new + urgent``; the manager turns that into MessageWaiting
  (with the depositing channel's snapshot when there is one), and res_mwi_devstate into a
  DeviceStateChange ``MWI:<mailbox>`` when the INUSE/NOT_INUSE state changes.
* ``VoicemailRefresh`` recounts only mailboxes that have a cached state (none right after a start,
  capture q2d) and publishes when the recount differs from the cache (``poll_subscribed_mailbox``:
  it compares INBOX-only and urgent counts against the cached ``new + urgent``, so a mailbox holding
  urgent messages is re-published on every refresh).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from voicemail.standin import events
from voicemail.standin.channel import Channel
from voicemail.standin.wire import Event


@dataclass(frozen=True)
class MwiState:
    new: int  # as published: INBOX + Urgent
    old: int
    urgent: int = 0  # never set by app_voicemail's publication


class Mwi:
    def __init__(self, publish: Callable[[Event], None]) -> None:
        self._publish = publish
        self._cache: dict[str, MwiState] = {}
        self._device: dict[str, str] = {}

    def queue(self, channel: Channel | None, mailbox_id: str, urgent: int, new: int, old: int) -> None:
        """``queue_mwi_event``: publish and cache; DeviceStateChange only on a change of state."""
        total = new + urgent
        self._cache[mailbox_id] = MwiState(total, old)
        self._publish(events.message_waiting(channel, mailbox_id, total, old))
        state = "INUSE" if total > 0 else "NOT_INUSE"
        device = f"MWI:{mailbox_id}"
        if self._device.get(device) != state:
            self._device[device] = state
            self._publish(events.device_state(device, state))

    def cached(self) -> list[str]:
        return list(self._cache)

    def needs_publish(self, mailbox_id: str, urgent: int, new: int, old: int) -> bool:
        state = self._cache.get(mailbox_id)
        if state is None:
            return False
        return urgent != state.urgent or new != state.new or old != state.old
