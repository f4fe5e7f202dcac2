"""Custody steps as audit events, written inside the transaction that makes the step's state change.

``SqlMessageStore`` calls these with its own connection at the moment a message's state actually
changes, so the trail and the state cannot disagree: a step that does not commit leaves no record, and
a retried step that finds the work already done (a re-delivered task, a second worker) changes no
state and writes nothing. Actor ``custody`` (the service itself), source ``<role>@<host>``.

Events (message_id = our message id; details never carry the caller's name or number):

* ``custody.discovered``  {site, mailbox, msg_id, folder, again}  the message row was created (or a
  vanished message came back); ``site``: the Asterisk it was left on
* ``custody.sealed``      {recordings: [{fmt, sha256, size, blob}], kek_id}  sealed, verified, committed
* ``custody.stripped``    {}  the spool audio was replaced by a placeholder
* ``custody.notified``    {notification, recipient}  the owner's notification was handed to the mailer

Exports are ``evidence.export`` (voicemail.audit.service), also per message.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from voicemail.audit.chain import AuditEvent
from voicemail.audit.store import AuditLog
from voicemail.domain.models import MailboxRef, SealedRecording

ACTOR = "custody"


class CustodyTrail:
    def __init__(self, source: str | None = None) -> None:
        self.source = source or f"service@{socket.gethostname()[:120]}"

    def discovered(self, conn: Connection, message_id: str, mailbox: MailboxRef, msg_id: str, folder: str,
                   *, again: bool = False) -> None:
        self.write_all(conn, [self.discovered_event(message_id, mailbox, msg_id, folder, again=again)])

    def discovered_event(self, message_id: str, mailbox: MailboxRef, msg_id: str, folder: str,
                         *, again: bool = False) -> AuditEvent:
        return self._event("custody.discovered", message_id, {
            "site": mailbox.site, "mailbox": f"{mailbox.mailbox}@{mailbox.context}", "msg_id": msg_id,
            "folder": folder, "again": again})

    def sealed(self, conn: Connection, message_id: str, recordings: Sequence[SealedRecording], kek_id: str) -> None:
        self.write_all(conn, [self.sealed_event(message_id, recordings, kek_id)])

    def sealed_event(self, message_id: str, recordings: Sequence[SealedRecording], kek_id: str) -> AuditEvent:
        return self._event("custody.sealed", message_id, {
            "recordings": [{"fmt": r.fmt, "sha256": r.sha256, "size": r.size, "blob": r.blob_name}
                           for r in recordings], "kek_id": kek_id})

    def stripped(self, conn: Connection, message_id: str) -> None:
        self.write_all(conn, [self.stripped_event(message_id)])

    def stripped_event(self, message_id: str) -> AuditEvent:
        return self._event("custody.stripped", message_id, {})

    def notified(self, conn: Connection, message_id: str, notification_id: str, recipient: str) -> None:
        self.write_all(conn, [self.notified_event(message_id, notification_id, recipient)])

    def notified_event(self, message_id: str, notification_id: str, recipient: str) -> AuditEvent:
        return self._event("custody.notified", message_id, {"notification": notification_id,
                                                             "recipient": recipient[:320]})

    def _event(self, action: str, message_id: str, details: Mapping[str, Any]) -> AuditEvent:
        return AuditEvent(actor=ACTOR, action=action, source=self.source, message_id=message_id, details=details)

    def write_all(self, conn: Connection, events: Sequence[AuditEvent]) -> None:
        """Append ``events`` in order in the caller's transaction (one lock of the chain's head)."""
        if events:
            AuditLog(conn.engine).append_many(events, conn)
