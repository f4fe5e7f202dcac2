"""Retention classes, their periods (from settings) and the floors no configuration may go below.

A period is whole days. Messages age from when they were left (``origtime``), except deleted
messages (the owner deleted them while a legal hold covered them) which age from the deletion.
Audit events keep their own setting (``audit_retention_days``, 90..2555, checked by the audit trail).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DAY = 86400


@dataclass(frozen=True)
class RecordClass:
    name: str  # as shown in plans and destruction records
    setting: str  # the Settings field holding the period in days
    floor: int  # minimum days: a configuration below it is refused
    ceiling: int | None = None


MESSAGES_NEW = RecordClass("messages.new", "retention_messages_new_days", 30)
MESSAGES_OLD = RecordClass("messages.old", "retention_messages_old_days", 30)
MESSAGES_DELETED = RecordClass("messages.deleted", "retention_messages_deleted_days", 0)
CDRS = RecordClass("cdrs", "retention_cdr_days", 90)
CALL_HISTORY = RecordClass("call_history", "retention_call_history_days", 30)
NOTIFICATIONS = RecordClass("notifications", "retention_notifications_days", 30)
EVIDENCE = RecordClass("evidence_exports", "retention_evidence_days", 365)
AUDIT = RecordClass("audit_epochs", "audit_retention_days", 90, 2555)

MESSAGE_CLASSES = (MESSAGES_NEW, MESSAGES_OLD, MESSAGES_DELETED)
ALL_CLASSES = (*MESSAGE_CLASSES, CDRS, CALL_HISTORY, NOTIFICATIONS, EVIDENCE, AUDIT)


@dataclass(frozen=True)
class RetentionPolicy:
    """Days per class name. Build with ``from_settings``; a test may build one directly."""

    days: dict[str, int]

    @classmethod
    def from_settings(cls, settings: Any) -> RetentionPolicy:
        return cls({c.name: int(getattr(settings, c.setting)) for c in ALL_CLASSES})

    def period(self, record_class: RecordClass) -> int:
        return self.days[record_class.name] * DAY

    def cutoff(self, record_class: RecordClass, now: float) -> float:
        """Records of this class older than this epoch second are due."""
        return now - self.period(record_class)


def check_periods(values: dict[str, int]) -> str | None:
    """The first problem with the configured periods (setting name: why), or None."""
    for c in ALL_CLASSES:
        days = values.get(c.setting)
        if days is None:
            continue
        if days < c.floor:
            return (f"{c.setting}: {days} days is below the minimum of {c.floor} days for {c.name} "
                    f"(records rules); set {c.floor} or more")
        if c.ceiling is not None and days > c.ceiling:
            return f"{c.setting}: {days} days is above the maximum of {c.ceiling} days for {c.name}"
    return None
