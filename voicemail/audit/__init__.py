"""Audit trail (hash chain, signed checkpoints), roles, cases, legal holds, evidence and CDR release."""

from voicemail.audit.chain import AuditEvent, ChainedEvent, VerifyResult
from voicemail.audit.signing import SigningKey
from voicemail.audit.store import AuditLog

__all__ = ["AuditEvent", "AuditLog", "ChainedEvent", "SigningKey", "VerifyResult"]
