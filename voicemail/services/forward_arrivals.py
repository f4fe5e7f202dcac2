"""Forwarded copies arriving in the recipient's spool, as the spool scan sees them.

A forward records the recipient's message (state ``forwarding``) before it asks Asterisk to copy the
envelope, so the spool scan (``Discovery``) knows the msg_id when the placeholder appears: it links it to the
sealed copy (``arrived``: the copy becomes ``stripped`` and its notification due) instead of taking the
silence for a new recording. Every reconciliation settles the copies left on their way (``settle_stale``):
the forward's process died, or the connection to Asterisk broke before it answered.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from voicemail.audit.chain import AuditEvent
from voicemail.domain.models import MailboxRef, SpoolMessage
from voicemail.domain.ports import Vault
from voicemail.services.forward import ForwardRows, SpoolLook

log = logging.getLogger(__name__)

STALE_AFTER = 600.0  # seconds after which a copy still on its way is settled by the reconciliation


class ForwardArrivals:
    def __init__(self, rows: ForwardRows, spool: SpoolLook, vault: Vault, audit: Any, *,
                 notify: Callable[[str], None] | None = None) -> None:
        self._rows = rows
        self._spool = spool
        self._vault = vault
        self._audit = audit
        self._notify = notify

    def waiting(self, mailbox: MailboxRef) -> dict[str, str]:
        """msg_id -> message id of the copies on their way into ``mailbox``."""
        return self._rows.waiting(mailbox)

    def arrived(self, message_id: str, found: SpoolMessage) -> str | None:
        """The spool scan found the placeholder of a forwarded copy: complete it (once)."""
        event = AuditEvent(actor="custody", action="custody.forward_arrived", source="service",
                           message_id=message_id, details={"folder": found.folder})
        notification = self._rows.complete(message_id, found.folder, found.number, [event])
        if notification is not None and self._notify is not None:
            with contextlib.suppress(Exception):  # due already: the sweeper hands it over otherwise
                self._notify(notification)
        return notification

    def settle_stale(self, older_than_seconds: float = STALE_AFTER) -> int:
        """Copies still ``forwarding`` long after the forward: completed when the placeholder is in the
        recipient's spool, else removed with their blobs (Asterisk never made the copy; the sender was told
        it failed). Returns how many were removed."""
        removed = 0
        for message_id, mailbox, msg_id in self._rows.stale(older_than_seconds):
            found = self._spool.find(mailbox, msg_id)
            if found is not None:
                self.arrived(message_id, found)
                continue
            blobs = self._rows.discard(message_id)
            for name in blobs:
                with contextlib.suppress(Exception):  # vault GC removes what is left
                    self._vault.delete(name)
            if blobs:
                removed += 1
                self._audit.append(AuditEvent(actor="custody", action="custody.forward_dropped", source="service",
                                              message_id=message_id, details={"mailbox": mailbox.qualified}))
                log.warning("forwarded copy %s never reached %s; removed with its sealed copy", message_id, mailbox)
        return removed
