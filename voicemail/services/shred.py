"""Crypto-shredding of one message (implements ``voicemail.domain.ports.Shredder``).

How to use it (owner delete, retention expiry, quota eviction)::

    shredder = container.shredder          # built in voicemail/app.py (build_mailbox_services)
    result = shredder.shred(message_id, actor="retention", source="beat@host", reason="expired (2 years)")
    # "destroyed": done now; "already": nothing was left; "held": a legal hold covers it, NOTHING changed
    # finish=False: "started" once the key is destroyed (steps 2-4 left to a later shred call)

The steps, in this order, each idempotent and each audited (action ``message.shred``, details.step):

1. ``key``   - the wrapped data key is nulled and the row marked ``shredding``, committed first. From
               here the sealed audio can never be decrypted again (also not from a vault backup).
2. ``blobs`` - the sealed blobs are deleted from the vault (a missing blob is fine).
3. ``spool`` - the spool envelope (Asterisk's placeholder audio + ``.txt``) is removed with AMI
               ``VoicemailRemove``, confirmed; MWI follows. A message Asterisk no longer lists is fine.
4. ``row``   - the row becomes a tombstone (state ``destroyed``; caller data, envelope and recording
               rows gone; ids kept so the spool scan never discovers it again).

With several sites (``sites``), steps 2-4 of a message of another site than the one this process serves
are never done here: Asterisk's envelope is removed by that site's own processes, which reach its AMI.
Step 1 is done at once ("started") and the rest is handed over: ``sites.hand_off`` puts a
``finish_shred`` task on that site's custody queue (workers/tasks.py); without one (no broker) that
site's `voicemail run` finishes it (its follow-up worker sweeps its site's unfinished shreds).

A crash (or an AMI outage: ``AmiError`` / ``TransientError`` is raised) between any two steps leaves the
row ``shredding``; calling ``shred`` again resumes and completes. The holds are checked before step 1
and again inside step 1's transaction, under a lock that a hold being placed or released must wait for
(and that waits for one in flight), so a hold committed at any moment before the key is destroyed is
honoured; once the key is destroyed there is nothing left a hold could keep. ``shred`` never raises for a
held message; it returns "held" and changes nothing (the caller decides what to do: the owner delete
hides it, retention skips and counts it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from voicemail.audit.chain import AuditEvent
from voicemail.domain.errors import NotFound
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import DESTROYED, SHREDDING, MessageRecord

log = logging.getLogger(__name__)


class HoldCheck(Protocol):
    def is_held(self, message: MessageRecord) -> bool: ...


class AuditSink(Protocol):
    def append(self, event: AuditEvent) -> object: ...


class ShredStore(Protocol):
    def get(self, message_id: str) -> MessageRecord: ...

    def blob_names(self, message_id: str) -> list[str]: ...

    def destroy_key_unless_held(self, message_id: str) -> str:
        """Check the holds and destroy the key in one transaction, under a lock that orders it against
        placing or releasing a hold: "destroyed", "held" (nothing changed) or "gone"."""
        ...

    def finish_destroyed(self, message_id: str) -> None: ...


class BlobDeleter(Protocol):
    def delete(self, blob_name: str) -> None: ...


class SpoolRemover(Protocol):
    def remove(self, mailbox: MailboxRef, msg_id: str) -> bool: ...


# hand_off(message_id, site, actor, source, reason): finish the shred on the message's own site
HandOff = Callable[[str, str, str, str, str], None]


@dataclass(frozen=True)
class ShredSites:
    """Where the spool step of a shred may run: ``here``, the site this process serves; ``default_site``,
    the site a MailboxRef without one names; ``hand_off``, how a shred of another site is handed to it
    (None: that site's `voicemail run` finds it by its sweep)."""

    here: str
    default_site: str
    hand_off: HandOff | None = None

    def site_of(self, record: MessageRecord) -> str:
        return record.mailbox.site or self.default_site


class CryptoShredder:
    """``CryptoShredder(store, vault, holds, audit, control, sites=None)``.

    ``store``: voicemail.db.mailbox_store.SqlMailboxStore; ``vault``: FileVault; ``holds``: voicemail.audit.holds.Holds;
    ``audit``: voicemail.audit.store.AuditLog; ``control``: AmiMailboxControl (``remove``), or None when
    the site has no AMI (step 3 is then skipped and logged, the envelope stays with Asterisk).
    """

    def __init__(self, store: ShredStore, vault: BlobDeleter, holds: HoldCheck, audit: AuditSink,
                 control: SpoolRemover | None, *, sites: ShredSites | None = None) -> None:
        self._store = store
        self._sites = sites
        self._vault = vault
        self._holds = holds
        self._audit = audit
        self._control = control

    def shred(self, message_id: str, *, actor: str, source: str, reason: str, finish: bool = True) -> str:
        """``finish`` False: step 1 only (the key, committed and audited) and "started"; the message is then
        no longer listed and can never be played again, and calling ``shred`` again completes steps 2-4.
        A message of another site (``sites``): step 1, then "started" (the rest handed to its site)."""
        try:
            record = self._store.get(message_id)
        except NotFound:
            return "already"
        if record.state == DESTROYED:
            return "already"
        if record.state != SHREDDING and self._holds.is_held(record):
            self._step(record, actor, source, reason, "refused", outcome="denied", why="held")
            return "held"
        # 1. the key (committed before anything else is touched), the holds checked again under one lock
        blobs = self._store.blob_names(message_id)
        if self._store.destroy_key_unless_held(message_id) == "held":  # a hold placed since the check above
            self._step(record, actor, source, reason, "refused", outcome="denied", why="held")
            return "held"
        self._step(record, actor, source, reason, "key")
        elsewhere = self._elsewhere(record)
        if elsewhere is not None and finish:
            self._hand_off(message_id, elsewhere, actor, source, reason)
        if not finish or elsewhere is not None:
            return "started"
        # 2. the sealed blobs
        for name in blobs:
            self._vault.delete(name)
        self._step(record, actor, source, reason, "blobs", count=len(blobs))
        # 3. the spool envelope
        if self._control is not None:
            removed = self._control.remove(record.mailbox, record.msg_id)
            self._step(record, actor, source, reason, "spool", removed=removed)
        else:
            log.warning("message %s: no AMI configured; its spool envelope was left to Asterisk", message_id)
        # 4. the row
        self._store.finish_destroyed(message_id)
        self._step(record, actor, source, reason, "row")
        log.info("message %s crypto-shredded", message_id)
        return "destroyed"

    def _hand_off(self, message_id: str, site: str, actor: str, source: str, reason: str) -> None:
        """Hand the rest of the shred to ``site``; when that fails (the broker is down) the row stays
        ``shredding`` and that site's sweep or the next retention run hands it over again."""
        hand_off = self._sites.hand_off if self._sites is not None else None
        if hand_off is None:
            log.info("message %s: its key is destroyed; site %s finishes its shredding", message_id, site)
            return
        try:
            hand_off(message_id, site, actor, source, reason)
        except Exception as exc:
            log.warning("message %s: its key is destroyed, but handing the rest to site %s failed (%s); "
                        "that site's sweep finishes it", message_id, site, type(exc).__name__)

    def _elsewhere(self, record: MessageRecord) -> str | None:
        """The message's site when it is not the one this process serves (its spool step is not done here)."""
        if self._sites is None:
            return None
        site = self._sites.site_of(record)
        return None if site == self._sites.here else site

    def _step(self, record: MessageRecord, actor: str, source: str, reason: str, step: str, *,
              outcome: str = "ok", why: str = "", **details: object) -> None:
        self._audit.append(AuditEvent(
            actor=actor, action="message.shred", outcome=outcome, source=source, reason=reason[:500],
            message_id=record.id, details={"step": step, "mailbox": record.mailbox.qualified, **details,
                                           **({"why": why} if why else {})}))
