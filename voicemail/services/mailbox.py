"""MailboxServices: ``voicemail.domain.mailbox.MailboxService`` for the web inbox.

Access: the owner of a mailbox may do everything with its messages; an administrator may list and see
the metadata of every mailbox (without the identity of external callers, see ``inbox``) and nothing
else; anyone else sees nothing. Every refusal is ``NotFound``, whether or not the message exists, and is
audited first (actor, action, message id, source, outcome "denied").
Hidden messages (deleted by their owner under a legal hold) and destroyed ones never appear.

Built in ``voicemail.app.build_mailbox_services`` (``container.mailboxes``); the constructor:
``MailboxServices(store, audio, shredder, holds, audit, *, control=None, spool=None, calls=None,
phone=None, admin_sees_external=False, call_device_template="", moves=None, default_site="default")``;
``default_site`` is the site of a mailbox named without one (the call history's sites); ``moves`` records the
telephone menu's decisions for the follow-up worker (``save_to_old``, ``delete(later=True)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal, Protocol

from voicemail.audit.chain import AuditEvent
from voicemail.domain.errors import Conflict, FeatureUnavailable, InvalidInput, NotFound, VoicemailError
from voicemail.domain.forwarding import ForwardNote
from voicemail.domain.mailbox import (
    AudioStream,
    ByteRange,
    CallHistoryPage,
    Forwarded,
    InboxItem,
    InboxPage,
    InboxQuery,
    InboxRow,
    Viewer,
)
from voicemail.domain.models import NEW_FOLDERS, MailboxRef, SpoolMessage
from voicemail.domain.phone_call import CallStatus
from voicemail.domain.ports import Shredder
from voicemail.domain.records import DESTROYED, SHREDDING, MessageRecord
from voicemail.services.call_history import CallQuery, call_history, scopes_for
from voicemail.services.forward import Forwarder
from voicemail.services.inbox import check_query, may_list, require_listing, search_scope, to_item
from voicemail.services.phone_playback import PhonePlayer
from voicemail.services.playback import AudioSource
from voicemail.services.shred import AuditSink, HoldCheck

log = logging.getLogger(__name__)

# Where a message its owner deleted under a legal hold waits in Asterisk. app_voicemail's counts (MWI,
# MailboxCount) cover INBOX, Old and Urgent only, and VoiceMailMain's folder menu offers INBOX..Friends,
# so the owner's lamp and phone no longer show it; our own listings never show hidden messages.
HOLD_FOLDER = "Cust5"


class MailboxRows(Protocol):
    def inbox(self, mailbox: MailboxRef, query: InboxQuery) -> tuple[list[InboxRow], int]: ...

    def visible(self, message_id: str) -> InboxRow | None: ...

    def get(self, message_id: str) -> MessageRecord: ...

    def set_folder(self, message_id: str, folder: str, number: int | None, *, seen: str | None = None) -> bool: ...

    def move_pending(self, message_id: str) -> bool: ...

    def follow_listing(self, message_id: str) -> None: ...

    def hide(self, message_id: str) -> None: ...

    def hidden_elsewhere(self, folder: str, limit: int = 500) -> list[tuple[str, MailboxRef, str]]: ...


class FolderControl(Protocol):
    def folder_of(self, mailbox: MailboxRef, msg_id: str) -> str | None: ...

    def move(self, mailbox: MailboxRef, msg_id: str, from_folder: str, to_folder: str) -> None: ...

    def move_from(self, mailbox: MailboxRef, msg_id: str, listed: str, to_folder: str) -> str | None: ...


class MoveRecorder(Protocol):
    def decide(self, message_id: str, from_folder: str, to_folder: str, event: AuditEvent, *,
               hide: bool = False) -> str: ...


class SpoolFinder(Protocol):
    def find(self, mailbox: MailboxRef, msg_id: str, hint: tuple[str, int] | None = None) -> SpoolMessage | None: ...


class MailboxServices:
    def __init__(self, store: MailboxRows, audio: AudioSource, shredder: Shredder, holds: HoldCheck,
                 audit: AuditSink, *, control: FolderControl | None = None, spool: SpoolFinder | None = None,
                 calls: CallQuery | None = None, phone: PhonePlayer | None = None,
                 admin_sees_external: bool = False, call_device_template: str = "",
                 moves: MoveRecorder | None = None, default_site: str = "default") -> None:
        self._store = store
        self._moves = moves  # pending folder moves (save_to_old); None: saves are carried out at once
        self._audio = audio
        self._shredder = shredder
        self._holds = holds
        self._audit = audit
        self._control = control
        self._spool = spool
        self._calls = calls
        self._phone = phone
        self._admin_sees_external = admin_sees_external
        self._call_device_template = call_device_template  # whose device placed a call (call_history)
        self._default_site = default_site  # the site of a mailbox named without one (site_name)
        self.forwarder: Forwarder | None = None  # set by the composition root when Asterisk is configured
        # told of each move recorded by save_to_old (the move worker's wake), set by the composition root
        self.on_move_recorded: Callable[[str], None] | None = None
        # told of each shred delete(later=True) started (message id, actor, source, reason): the worker finishes it
        self.on_shred_started: Callable[[str, str, str, str], None] | None = None

    # --- reading ------------------------------------------------------------------------------------
    def inbox(self, viewer: Viewer, mailbox: MailboxRef, query: InboxQuery) -> InboxPage:
        if not may_list(viewer, mailbox):
            self._event(viewer, "mailbox.list", None, outcome="denied", reason="not the owner of this mailbox",
                        details={"mailbox": mailbox.qualified})
            require_listing(viewer, mailbox)
        check_query(query)
        scope = search_scope(viewer, mailbox, admin_sees_external=self._admin_sees_external)
        query = replace(query, search_scope=scope)
        rows, total = self._store.inbox(mailbox, query)
        items = tuple(to_item(r, viewer, admin_sees_external=self._admin_sees_external) for r in rows)
        return InboxPage(items, total, query.offset, query.limit)

    def _listed(self, viewer: Viewer, message_id: str, action: str) -> InboxRow:
        plausible = _plausible_id(message_id)
        row = self._store.visible(message_id) if plausible else None
        if row is None or not may_list(viewer, row.mailbox):
            target = message_id if plausible and len(message_id) <= 36 else None
            self._event(viewer, action, target, outcome="denied",
                        reason="no such message" if row is None else "not the owner of this mailbox")
            raise NotFound(f"no message {message_id[:64]}")
        return row

    def _owned(self, viewer: Viewer, message_id: str, action: str) -> InboxRow:
        row = self._listed(viewer, message_id, action)
        if not viewer.owns(row.mailbox):  # an administrator: metadata only
            self._event(viewer, action, row.id, outcome="denied", reason="not the mailbox owner")
            raise NotFound(f"no message {message_id[:64]}")
        return row

    def message(self, viewer: Viewer, message_id: str) -> InboxItem:
        row = self._listed(viewer, message_id, "message.view")
        return to_item(row, viewer, admin_sees_external=self._admin_sees_external)

    def audio(self, viewer: Viewer, message_id: str, byte_range: ByteRange | None,
              fmt: Literal["original", "browser"] = "browser") -> AudioStream:
        row = self._owned(viewer, message_id, "audio.play")
        if not row.sealed:
            raise Conflict("this message is still being secured; try again in a moment")
        stream = self._audio.open(self._store.get(row.id), byte_range, fmt)
        try:
            self._event(viewer, "audio.play", row.id, details={
                "format": fmt, "content_type": stream.content_type, "total": stream.total,
                "range": f"{stream.start}-{stream.end}" if stream.partial else "all"})
        except BaseException:  # fail closed: no audit record, no audio
            for close in stream.close:
                if callable(close):
                    close()
            raise
        return stream

    def download(self, viewer: Viewer, message_id: str) -> tuple[AudioStream, int]:
        """The whole recording as a WAV file for the owner to keep, and when it was received (epoch seconds,
        for the file name). Audited as ``audio.download`` before the first byte; no record, no file."""
        row = self._owned(viewer, message_id, "audio.download")
        if not row.sealed:
            raise Conflict("this message is still being secured; try again in a moment")
        stream = self._audio.open(self._store.get(row.id), None, "browser")
        try:
            self._event(viewer, "audio.download", row.id, details={
                "content_type": stream.content_type, "total": stream.total})
        except BaseException:  # fail closed: no audit record, no file
            for close in stream.close:
                if callable(close):
                    close()
            raise
        return stream, row.origtime

    # --- changing -----------------------------------------------------------------------------------
    def mark(self, viewer: Viewer, message_id: str, read: bool) -> InboxItem:
        row = self._owned(viewer, message_id, "message.mark")
        if self._control is None:
            raise Conflict("marking read needs the connection to Asterisk, which is not configured")
        target = "Old" if read else "INBOX"
        racing = self._store.move_pending(row.id)  # the phone's decision may reach Asterisk around ours
        current = None
        if row.folder and (row.folder in NEW_FOLDERS) == read:  # as we list it, it is not yet where it should be
            current = self._control.move_from(row.mailbox, row.msg_id, row.folder, target)
        if current is None:  # already there as we list it, or our listing was out of date
            current = self._control.folder_of(row.mailbox, row.msg_id)
            if current is None:
                raise Conflict("the message is no longer in the mailbox on the phone system")
            if (current in NEW_FOLDERS) == read:  # not yet where it should be
                self._control.move(row.mailbox, row.msg_id, current, target)
            else:
                target = current
        number = None
        if self._spool is not None:
            found = self._spool.find(row.mailbox, row.msg_id)
            number = found.number if found is not None else None
        racing = self._store.set_folder(row.id, target, number, seen=row.folder) or racing
        self._event(viewer, "message.mark", row.id, details={"read": read, "from": current, "to": target})
        if racing:
            self._follow_mark(row, target)
        updated = self._store.visible(row.id)
        if updated is None:
            raise NotFound(f"no message {message_id[:64]}")
        return to_item(updated, viewer)

    def _follow_mark(self, row: InboxRow, target: str) -> None:
        """A move the phone decided may have reached Asterisk after ours while we committed: Asterisk is
        read again and brought to ``target`` (a move made later still finds its decision superseded and
        brings Asterisk back to our listing itself, see ``voicemail.services.folder_moves``). When that
        fails, the move worker is left a move to our listing, retried until done."""
        assert self._control is not None
        try:
            current = self._control.folder_of(row.mailbox, row.msg_id)
            if current is not None and (current in NEW_FOLDERS) != (target in NEW_FOLDERS):
                log.info("message %s: a pending move reached Asterisk after the mark; moved back to %s", row.id,
                         target)
                self._control.move(row.mailbox, row.msg_id, current, target)
        except VoicemailError as exc:
            log.warning("message %s: Asterisk could not be brought to %s after a racing move (%s); left to the "
                        "move worker", row.id, target, type(exc).__name__)
            self._store.follow_listing(row.id)
            self._follow_up(self.on_move_recorded, row.id)

    def save_to_old(self, viewer: Viewer, message_id: str) -> None:
        """Mark the message read (Old) as the owner decided on the phone: our listing, a pending move for
        Asterisk and the ``message.mark`` event, committed together before this returns; Asterisk's
        VoicemailMove (confirmed by re-reading the mailbox) follows in the background
        (``voicemail.services.folder_moves``), retried until done. Without a move recorder, ``mark``."""
        if self._moves is None:
            self.mark(viewer, message_id, True)
            return
        row = self._owned(viewer, message_id, "message.mark")
        if self._control is None:
            raise Conflict("marking read needs the connection to Asterisk, which is not configured")
        listed = row.folder or "INBOX"
        target = "Old" if listed in NEW_FOLDERS else listed
        event = AuditEvent(actor=viewer.account, action="message.mark", source=viewer.source, message_id=row.id,
                           details={"read": True, "from": listed, "to": target, "asterisk": "pending"})
        self._moves.decide(row.id, listed, target, event)
        self._follow_up(self.on_move_recorded, row.id)

    def delete(self, viewer: Viewer, message_id: str, *, later: bool = False) -> None:
        """``later`` (the phone's key): return once the decision is beyond recall, leaving Asterisk to the
        follow-up worker: the key destroyed (committed, audited; the rest of the shred follows), or under
        a hold the message hidden with a pending move to the hold folder (one transaction with the
        audit event). Without a follow-up worker, as without ``later``."""
        row = self._owned(viewer, message_id, "message.delete")
        record = self._store.get(row.id)
        later = later and self.on_shred_started is not None and self._moves is not None
        reason = "deleted by the mailbox owner"
        result, stalled = ("held", False) if self._holds.is_held(record) else self._shred(
            viewer, row.id, reason, finish=not later)
        details: dict[str, Any] = {"result": "hidden" if result == "held" else result, "held": result == "held"}
        if result == "held" and later and self._moves is not None:
            details["asterisk_folder"] = "pending"
            self._moves.decide(row.id, row.folder or "INBOX", HOLD_FOLDER, AuditEvent(
                actor=viewer.account, action="message.delete", source=viewer.source, message_id=row.id,
                details=details), hide=True)
            self._follow_up(self.on_move_recorded, row.id)
            return
        if result == "held":
            self._store.hide(row.id)
            details["asterisk_folder"] = self._hidden_out_of_sight(row)
        # The owner sees the same success either way; only auditors read this record.
        self._event(viewer, "message.delete", row.id, details=details)
        started = self.on_shred_started
        # "started" without ``later``: a message of another site, whose own processes finish it, or one whose
        # shred stopped after its key (Asterisk unreachable), which the follow-up worker's sweep finishes
        if result == "started" and started is not None and (later or stalled):
            self._follow_up(lambda mid: started(mid, viewer.account, viewer.source, reason), row.id)

    def _shred(self, viewer: Viewer, message_id: str, reason: str, *, finish: bool) -> tuple[str, bool]:
        """The owner's delete: the shred's result, and whether it stopped after the key. Once the key is
        destroyed the decision is beyond recall and the delete has succeeded: a failure of the steps after it
        (Asterisk unreachable, a racing move of the phone) gives ("started", True), the rest left to the
        follow-up worker's sweep of unfinished shreds. A failure before the key is destroyed changes nothing
        and is raised."""
        try:
            return self._shredder.shred(message_id, actor=viewer.account, source=viewer.source, reason=reason,
                                        finish=finish), False
        except VoicemailError as exc:
            if self._store.get(message_id).state not in (SHREDDING, DESTROYED):
                raise
            log.warning("message %s: its key is destroyed; the rest of its shred failed (%s) and is finished by "
                        "the follow-up worker", message_id, type(exc).__name__)
            return "started", True

    def _hidden_out_of_sight(self, row: InboxRow) -> str | None:
        """``_out_of_sight`` for a held message its owner just deleted, which is hidden already: when Asterisk
        cannot be reached, "pending" (``tuck_away_hidden``, run after each retention run, moves it), so the
        owner sees the same success as for a delete without a hold."""
        try:
            return self._out_of_sight(row.id, row.mailbox, row.msg_id)
        except VoicemailError as exc:
            log.warning("message %s: hidden; Asterisk could not be reached to move it out of sight (%s); the "
                        "next retention run moves it", row.id, type(exc).__name__)
            return "pending"

    @staticmethod
    def _follow_up(tell: Callable[[str], None] | None, message_id: str) -> None:
        """Tell the follow-up worker; what it is not told, its sweep finds."""
        if tell is None:
            return
        try:
            tell(message_id)
        except Exception as exc:
            log.warning("message %s: the follow-up worker was not told at once (%s)", message_id, type(exc).__name__)

    @property
    def forwards(self) -> bool:
        """Whether forwarding to another mailbox is possible here (it needs Asterisk)."""
        return self.forwarder is not None

    def forward(self, viewer: Viewer, message_id: str, to: str, comment: str = "") -> Forwarded:
        """Copy the message into another mailbox (sealed under its own key) with an optional comment.
        Owner only. A held message may be forwarded: the original stays as it is. A refusal (no such
        mailbox, your own, full, still being secured) raises InvalidInput / Conflict and is audited."""
        row = self._owned(viewer, message_id, "message.forward")
        if self.forwarder is None:
            raise FeatureUnavailable("Forwarding needs the connection to the phone system, which is not set up here")
        record = self._store.get(row.id)
        try:
            return self.forwarder.forward(viewer, record, to, comment, held=self._holds.is_held(record))
        except (InvalidInput, Conflict) as exc:
            self._event(viewer, "message.forward", row.id, outcome="error", reason=str(exc)[:200],
                        details={"to": to.strip()[:80]})
            raise

    def forward_note(self, viewer: Viewer, message_id: str) -> ForwardNote | None:
        """Who forwarded this message and their comment (its owner only; None when it was not forwarded)."""
        row = self._owned(viewer, message_id, "message.view")
        return self.forwarder.note(row.id) if self.forwarder is not None else None

    def tuck_away_hidden(self) -> int:
        """Move to HOLD_FOLDER the hidden messages that are not there yet (Asterisk was unreachable when
        their owner deleted them). Returns how many were moved; failures are logged and left for the next
        call. Run after each retention run."""
        if self._control is None:
            return 0
        moved = 0
        for message_id, mailbox, msg_id in self._store.hidden_elsewhere(HOLD_FOLDER):
            try:
                if self._out_of_sight(message_id, mailbox, msg_id) == HOLD_FOLDER:
                    moved += 1
            except VoicemailError as exc:
                log.warning("message %s: could not move it out of its owner's sight yet: %s", message_id,
                            type(exc).__name__)
        return moved

    def _out_of_sight(self, message_id: str, mailbox: MailboxRef, msg_id: str) -> str | None:
        """Move a held message its owner deleted to HOLD_FOLDER (VoicemailMove, confirmed by re-reading
        the mailbox), so Asterisk's counts and the phone drop it as they would for a real delete; nothing
        is removed. Returns the folder it is in now (None: Asterisk does not list it, or no AMI)."""
        if self._control is None:
            log.warning("message %s is hidden under a hold but no AMI is configured: Asterisk still counts it",
                        message_id)
            return None
        current = self._control.folder_of(mailbox, msg_id)
        if current is not None and current != HOLD_FOLDER:
            self._control.move(mailbox, msg_id, current, HOLD_FOLDER)
            current = HOLD_FOLDER
        if current == HOLD_FOLDER:
            number = None
            if self._spool is not None:
                found = self._spool.find(mailbox, msg_id)
                number = found.number if found is not None else None
            self._store.set_folder(message_id, HOLD_FOLDER, number)
        return current

    @property
    def plays_on_phones(self) -> bool:
        """Whether "Play on my phone" is set up (a device template)."""
        return self._phone is not None

    def play_on_phone(self, viewer: Viewer, message_id: str) -> str:
        """Start the call; returns its id (``phone_call``)."""
        if self._phone is None:
            raise FeatureUnavailable("Play on my phone is not set up on this site")
        row = self._owned(viewer, message_id, "audio.play_phone")  # placed by the message's own site's Asterisk
        if not row.sealed:
            raise Conflict("this message is still being secured; try again in a moment")
        reference = self._phone.play(self._store.get(row.id))
        self._event(viewer, "audio.play_phone", row.id, details={"call": reference})
        return reference

    def phone_call(self, viewer: Viewer, call_id: str) -> CallStatus:
        """What became of a call ``play_on_phone`` started (only the mailbox owner's own calls)."""
        status = self._phone.status(call_id) if self._phone is not None else None
        if status is None or not viewer.owns(status.mailbox):
            raise NotFound("no such call")
        return status

    def call_history(self, viewer: Viewer, offset: int, limit: int) -> CallHistoryPage:
        if self._calls is None:
            return CallHistoryPage((), 0, offset, limit)
        scopes = scopes_for(_numbers(viewer.numbers), viewer.mailboxes, self._call_device_template,
                            self._default_site)
        return call_history(self._calls, scopes, offset, limit)

    # --- helpers ------------------------------------------------------------------------------------
    def _event(self, viewer: Viewer, action: str, message_id: str | None, *, outcome: str = "ok", reason: str = "",
               details: dict[str, Any] | None = None) -> None:
        self._audit.append(AuditEvent(actor=viewer.account, action=action, outcome=outcome, source=viewer.source,
                                      reason=reason, message_id=message_id, details=details or {}))


def _plausible_id(message_id: str) -> bool:
    return isinstance(message_id, str) and 0 < len(message_id) <= 64 and message_id.replace("-", "").isalnum()


def _numbers(numbers: Sequence[str]) -> list[str]:
    return [n.strip() for n in numbers if n and n.strip()]
