"""Remove vault files that no committed record points to: what a killed seal leaves behind.

A seal attempt writes its blob before the database commit that records it (and its wrapped data key).
If the worker dies in between, the blob stays under a name no record knows; its data key was never
stored, so it can never be opened: removing it loses nothing. Temp files of interrupted writes go too.
Blob names end in the attempt token of their custody run; while a message awaits its seal only the newest
run may still commit, so the blobs of older runs (killed ones) go, and all of them once it is parked.
Only files older than ``older_than_seconds`` are touched, so a seal in progress is never disturbed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from voicemail.domain.records import DISCOVERED
from voicemail.vault import FileVault

log = logging.getLogger(__name__)


def collect_orphans(vault: FileVault, referenced: Callable[[str], tuple[str, set[str], str] | None],
                    older_than_seconds: float, now: Callable[[], float] = time.time) -> int:
    """``referenced(message_id)`` gives (state, committed blob names, attempt token of the custody run
    that may still commit, or "") of a message, or None."""
    cutoff = now() - older_than_seconds
    removed = 0
    for fan, name, mtime in vault.listing():
        if mtime > cutoff:
            continue
        if not name.startswith("."):
            message_id = name.split(".", 1)[0]
            known = referenced(message_id)
            if known is not None:
                state, blobs, live_attempt = known
                if name in blobs:
                    continue
                if state == DISCOVERED and live_attempt and name.rsplit(".", 1)[-1] == live_attempt:
                    continue  # the newest custody run may still commit it
        vault.delete_leftover(fan, name)
        removed += 1
    if removed:
        log.info("vault: removed %d file(s) that no record points to", removed)
    return removed
