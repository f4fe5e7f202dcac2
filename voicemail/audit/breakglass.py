"""The break-glass export of one message (`voicemail message export`), audited and fail-closed:
an export whose audit event cannot be written is deleted again and reported as failed."""

from __future__ import annotations

from pathlib import Path

from voicemail.audit.access import Actor
from voicemail.audit.chain import AuditEvent
from voicemail.audit.store import AuditLog
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.errors import InvalidInput, NotFound
from voicemail.domain.models import MailboxRef
from voicemail.domain.ports import Keyring, Vault
from voicemail.domain.records import MessageRecord
from voicemail.services.export import export_recording


def audited_export(audit: AuditLog, store: SqlMessageStore, vault: Vault, keyring: Keyring, actor: Actor,
                   mailbox: MailboxRef | None, msg_id: str, output: Path, fmt: str | None,
                   reason: str) -> tuple[int, str]:
    """Export one message: ``msg_id`` is Asterisk's msg_id within ``mailbox``, or, with ``mailbox`` None,
    our message id (the one the web, e-mail, audit trail and evidence use)."""
    if not reason.strip():
        raise InvalidInput("a break-glass export needs --reason")
    base = {"actor": actor.name, "action": "message.export", "source": actor.source, "reason": reason}
    record = store.find(mailbox, msg_id) if mailbox is not None else _by_our_id(store, msg_id)
    if record is None:
        # the mailbox as the command named it, with its site when it named one (1001@default@branch)
        where = {"mailbox": mailbox.qualified} if mailbox is not None else {"message": msg_id[:64]}
        audit.append(AuditEvent(outcome="error", details={**where, "error": "not found"}, **base))
        raise NotFound(f"no sealed message {msg_id[:64]}" + (f" in mailbox {mailbox.qualified}" if mailbox is not None
                                                              else ""))
    try:
        written, digest = export_recording(vault, keyring, record, output, fmt)
    except Exception as exc:
        audit.append(AuditEvent(outcome="error", message_id=record.id,
                                details={"error": type(exc).__name__, "format": fmt}, **base))
        raise
    try:
        audit.append(AuditEvent(message_id=record.id, details={"file": str(output), "sha256": digest,
                                                                "bytes": written, "format": fmt}, **base))
    except BaseException:
        output.unlink(missing_ok=True)  # fail closed: no unaudited plaintext
        raise
    return written, digest


def _by_our_id(store: SqlMessageStore, message_id: str) -> MessageRecord | None:
    try:
        return store.get(message_id)
    except NotFound:
        return None
