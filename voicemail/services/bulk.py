"""Several messages at once: mark read, mark unread or delete each selected message through the same
mailbox service as one at a time (so each is checked, changed and audited on its own)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from voicemail.domain.errors import Conflict, FeatureUnavailable, InvalidInput, NotFound, TransientError
from voicemail.domain.mailbox import MailboxService, Viewer

log = logging.getLogger(__name__)
BulkAction = Literal["read", "unread", "delete"]
ACTIONS: tuple[BulkAction, ...] = ("read", "unread", "delete")
MAX_SELECTED = 100


@dataclass(frozen=True)
class BulkResult:
    action: BulkAction
    done: tuple[str, ...]
    failed: tuple[str, ...]  # not the viewer's, gone meanwhile, or the phone system refused


def apply_to_selected(service: MailboxService, viewer: Viewer, action: str, ids: list[str]) -> BulkResult:
    """Each message on its own: one that cannot be changed is counted, the others are still done."""
    if action not in ACTIONS:
        raise InvalidInput("choose mark as read, mark as unread or delete")
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise InvalidInput("Select at least one message first.")
    if len(unique) > MAX_SELECTED:
        raise InvalidInput(f"Select at most {MAX_SELECTED} messages at once.")
    done: list[str] = []
    failed: list[str] = []
    for message_id in unique:
        try:
            if action == "delete":
                service.delete(viewer, message_id)
            else:
                service.mark(viewer, message_id, action == "read")
            done.append(message_id)
        except (NotFound, Conflict, FeatureUnavailable, TransientError) as exc:
            log.info("bulk %s: one message not changed (%s)", action, type(exc).__name__)
            failed.append(message_id)
    return BulkResult(action, tuple(done), tuple(failed))


def summary(result: BulkResult) -> str:
    """E.g. "3 messages marked as read." or "2 messages deleted; 1 could not be changed."."""
    verb = {"read": "marked as read", "unread": "marked as unread", "delete": "deleted"}[result.action]
    count = len(result.done)
    said = f"{count} message{'' if count == 1 else 's'} {verb}"
    if result.failed:
        said += f"; {len(result.failed)} could not be changed"
    return said + "."
