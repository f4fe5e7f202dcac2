"""Forwarding a message to another mailbox, with an optional text comment.

After custody Asterisk's spool holds only a placeholder, so Asterisk's own VoicemailForward alone would
deliver silence. A forward therefore:

1. copies the sealed recording in the vault for the recipient's message under a fresh data key of its
   own (the audio is decrypted chunk by chunk and sealed again, verified against the original's SHA-256):
   destroying either message's key leaves the other playable, and each stays crypto-shreddable alone;
2. records the recipient's message in state ``forwarding`` (same msg_id: app_voicemail copies the
   ``.txt`` as it is) with the comment, before Asterisk is asked, so that the spool scan recognises the
   placeholder when it appears instead of taking it for a new recording;
3. asks Asterisk for VoicemailForward (capture q2b) from the folder it lists the message in now, into the
   recipient's INBOX, confirmed by re-reading the recipient's mailbox: the message-waiting lamp and the
   phone's counts follow as for any message;
4. completes the copy (``stripped``, its notification due) and writes the audit events of both sides:
   ``message.forward`` on the original, ``message.forward.received`` on the copy.

The copy keeps the original caller's classification (an outside caller stays an outside caller in the
recipient's notification); the person who forwarded it is named as an internal colleague.

With several sites a message is forwarded within its own site only (Asterisk's VoicemailForward copies
within one server): a recipient named without a site is the mailbox of that number on the message's site,
and the forward goes through that site's AMI (``control`` picks it by the mailbox's site).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, cast

from voicemail.audit.chain import AuditEvent
from voicemail.domain.errors import Conflict, IntegrityError, InvalidInput, VoicemailError
from voicemail.domain.forwarding import ForwardCopy, ForwardNote
from voicemail.domain.mailbox import Forwarded, Viewer
from voicemail.domain.models import MailboxRef, SealedRecording, SpoolMessage, WrappedKey
from voicemail.domain.ports import Keyring, Vault
from voicemail.domain.records import STRIPPED, MessageRecord
from voicemail.services.custody import blob_name
from voicemail.vault import new_data_key

log = logging.getLogger(__name__)

COMMENT_LIMIT = 500  # characters of a forwarding comment


class ForwardRows(Protocol):
    def in_mailbox(self, mailbox: MailboxRef, msg_id: str) -> bool: ...

    def insert(self, copy: ForwardCopy) -> None: ...

    def complete(self, message_id: str, folder: str, number: int | None, events: list[AuditEvent]) -> str | None: ...

    def discard(self, message_id: str) -> list[str]: ...

    def waiting(self, mailbox: MailboxRef) -> dict[str, str]: ...

    def stale(self, older_than_seconds: float) -> list[tuple[str, MailboxRef, str]]: ...

    def note(self, message_id: str) -> ForwardNote | None: ...

    def notification_of(self, message_id: str) -> str | None: ...

    def usage(self, mailbox: MailboxRef | None) -> int: ...


class RecipientInfo(Protocol):
    @property
    def new(self) -> int: ...

    @property
    def max_messages(self) -> int | None: ...

    @property
    def fullname(self) -> str: ...


class ForwardControl(Protocol):
    def user(self, mailbox: MailboxRef) -> RecipientInfo | None: ...

    def folder_of(self, mailbox: MailboxRef, msg_id: str) -> str | None: ...

    def forward(self, source: MailboxRef, folder: str, msg_id: str, to: MailboxRef) -> bool: ...


class SpoolLook(Protocol):
    def find(self, mailbox: MailboxRef, msg_id: str, hint: tuple[str, int] | None = None) -> SpoolMessage | None: ...

    def is_placeholder(self, message: SpoolMessage, fmt: str) -> bool: ...


@dataclass(frozen=True)
class ForwardQuota:
    mailbox_bytes: int = 0  # quota_mailbox_bytes (0 = none)
    site_bytes: int = 0  # quota_site_bytes (0 = none)


def parse_recipient(text: str, default_context: str) -> MailboxRef:
    value = (text or "").strip()
    if not value:
        raise InvalidInput("Enter the mailbox to forward the message to, such as 2001.")
    try:
        return MailboxRef.parse(value, default_context)
    except InvalidInput:
        raise InvalidInput("A mailbox is a number such as 2001 (or 2001@context).") from None


def clean_comment(text: str) -> str:
    """The comment as stored: line ends made \\n, other control characters refused, at most
    COMMENT_LIMIT characters, surrounding blanks removed."""
    value = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if any((ord(ch) < 32 and ch not in "\n\t") or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029" for ch in value):
        raise InvalidInput("The comment may not contain control characters.")
    if len(value) > COMMENT_LIMIT:
        raise InvalidInput(f"The comment is {len(value)} characters long; at most {COMMENT_LIMIT} are allowed.")
    return value


class _Plaintext:
    """A readable stream over the decrypted chunks of a sealed blob (what ``Vault.seal`` reads)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._buffer = chunks, b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


class Forwarder:
    def __init__(self, rows: ForwardRows, vault: Vault, keyring: Keyring, control: ForwardControl,
                 spool: SpoolLook, audit: Any, *, quota: ForwardQuota | None = None,
                 owner_name: Callable[[MailboxRef], str] | None = None,
                 notify: Callable[[str], None] | None = None, default_site: str = "default") -> None:
        """``default_site``: the default site's name (site_name), the site of a mailbox named without one."""
        self._default_site = default_site
        self._rows = rows
        self._vault = vault
        self._keyring = keyring
        self._control = control
        self._spool = spool
        self._audit = audit
        self._quota = quota or ForwardQuota()
        self._owner_name = owner_name
        self._notify = notify

    # --- the forward --------------------------------------------------------------------------
    def forward(self, viewer: Viewer, source: MessageRecord, to_text: str, comment: str, *,
                held: bool) -> Forwarded:
        """Copy ``source`` (a message ``viewer`` owns, checked by the caller) into another mailbox.
        InvalidInput / Conflict with a sentence for the person when it cannot be done."""
        to = self._on_source_site(parse_recipient(to_text, source.mailbox.context), source.mailbox)
        text = clean_comment(comment)
        if viewer.owns(to):
            raise InvalidInput("That is your own mailbox: choose someone else's.")
        if source.state != STRIPPED or source.wrapped_key is None or not source.recordings:
            raise Conflict("This message is still being secured; try again in a moment.")
        recipient = self._control.user(to)
        if recipient is None:
            raise InvalidInput(f"There is no mailbox {_shown(to, source.mailbox)}.")
        if self._rows.in_mailbox(to, source.msg_id):
            raise Conflict(f"Mailbox {_shown(to, source.mailbox)} already has this message.")
        if recipient.max_messages and recipient.new >= recipient.max_messages:
            raise Conflict(f"Mailbox {_shown(to, source.mailbox)} is full; the message was not forwarded.")
        self._check_quota(to, source)
        note = ForwardNote(source.id, viewer.account, self._label(viewer, source.mailbox), text)
        copy_id = str(uuid.uuid4())
        wrapped, recordings = self._copy_sealed(source, copy_id)
        try:
            self._rows.insert(ForwardCopy(copy_id, to, source, wrapped, tuple(recordings), note))
        except BaseException:
            self._delete_blobs([r.blob_name for r in recordings])
            raise
        found = self._deliver(source, to, copy_id)
        placeholders = self._placeholder_only(found)
        sent = AuditEvent(actor=viewer.account, action="message.forward", source=viewer.source,
                          message_id=source.id, details={"to": to.qualified, "copy": copy_id, "held": held,
                                                         "comment": bool(text)})
        received = AuditEvent(actor=viewer.account, action="message.forward.received", source=viewer.source,
                              message_id=copy_id, details={
                                  "from_message": source.id, "from_mailbox": source.mailbox.qualified,
                                  "kek_id": wrapped.kek_id, "spool_placeholder_only": placeholders,
                                  "recordings": [{"fmt": r.fmt, "sha256": r.sha256, "size": r.size,
                                                  "blob": r.blob_name} for r in recordings]})
        notification = self._rows.complete(copy_id, "INBOX", found.number if found else None, [sent, received])
        if notification is None:  # the spool scan saw the placeholder first and completed it
            for event in (sent, received):
                self._audit.append(event)
            notification = self._rows.notification_of(copy_id)
        if notification is not None and self._notify is not None:
            try:
                self._notify(notification)
            except Exception as exc:  # the notification is due; the sweeper hands it over
                log.warning("notification %s of forwarded message %s not handed over now (%s)", notification,
                            copy_id, type(exc).__name__)
        log.info("message %s forwarded to %s as %s", source.id, to, copy_id)
        return Forwarded(copy_id, to, held)

    def _on_source_site(self, to: MailboxRef, source: MailboxRef) -> MailboxRef:
        """The recipient on the message's site (a mailbox named without a site is there); Conflict when it
        names another site: Asterisk forwards within one server only."""
        here = source.site or self._default_site
        if to.site and to.site != here:
            raise Conflict(f"This message is on site {here}; it can be forwarded only to a mailbox on that site, "
                           f"not to one on site {to.site}.")
        return to.on_site(source.site)

    def _label(self, viewer: Viewer, mailbox: MailboxRef) -> str:
        """The forwarder as the recipient sees them: the mailbox's owner name (our copy of voicemail.conf's
        full name, else Asterisk's), else the account name, and the mailbox number."""
        name = self._owner_name(mailbox) if self._owner_name is not None else ""
        if not name:
            user = self._control.user(mailbox)
            name = user.fullname if user is not None else ""
        return f"{name or viewer.account} ({mailbox.mailbox})"[:200]

    def _check_quota(self, to: MailboxRef, source: MessageRecord) -> None:
        size = sum(r.size for r in source.recordings)
        q = self._quota
        if q.mailbox_bytes and self._rows.usage(to) + size > q.mailbox_bytes:
            raise Conflict(f"Mailbox {_shown(to, source.mailbox)} has no room left for this message.")
        if q.site_bytes and self._rows.usage(None) + size > q.site_bytes:
            raise Conflict("The voicemail store is full; the message was not forwarded.")

    def _copy_sealed(self, source: MessageRecord, copy_id: str) -> tuple[WrappedKey, list[SealedRecording]]:
        """Decrypt each recording of ``source`` and seal it again under a fresh data key bound to
        ``copy_id``; verified by decrypting the new blob against the original's SHA-256."""
        assert source.wrapped_key is not None
        source_key_id, key_id = source.id.encode(), copy_id.encode()
        source_dek = self._keyring.unwrap(source.wrapped_key, source_key_id)
        dek, attempt = new_data_key(), uuid.uuid4().hex[:8]
        sealed: list[SealedRecording] = []
        try:
            for rec in source.recordings:
                chunks = self._vault.open(rec.blob_name, source_dek, source_key_id)
                try:
                    result = self._vault.seal(cast(BinaryIO, _Plaintext(chunks)),
                                              blob_name(copy_id, rec.fmt, attempt), dek, key_id)
                finally:
                    close = getattr(chunks, "close", None)
                    if callable(close):
                        close()
                sealed.append(dataclasses.replace(result, fmt=rec.fmt))
                if result.sha256 != rec.sha256:
                    raise IntegrityError(f"the copy of message {source.id} ({rec.fmt}) differs from the original")
                self._vault.verify(result.blob_name, dek, key_id, rec.sha256)
            return self._keyring.wrap(dek, key_id), sealed
        except BaseException:
            self._delete_blobs([r.blob_name for r in sealed])
            raise

    def _deliver(self, source: MessageRecord, to: MailboxRef, copy_id: str) -> SpoolMessage | None:
        """VoicemailForward, confirmed; the copy's spool entry. A copy Asterisk did not make is discarded."""
        try:
            folder = self._control.folder_of(source.mailbox, source.msg_id)
            if folder is None:
                self._discard(copy_id)
                raise Conflict("The message is no longer in your mailbox on the phone system.")
            confirmed = self._control.forward(source.mailbox, folder, source.msg_id, to)
        except VoicemailError as exc:
            if isinstance(exc, Conflict):
                raise
            found = self._spool.find(to, source.msg_id)  # it may have been copied before the error
            if found is None:
                self._discard(copy_id)
                raise
            return found
        found = self._spool.find(to, source.msg_id)
        if not confirmed and found is None:
            self._discard(copy_id)
            raise Conflict(f"Mailbox {_shown(to, source.mailbox)} is full; the message was not forwarded.")
        return found

    def _placeholder_only(self, found: SpoolMessage | None) -> bool:
        """Whether the copy's audio in the spool is our placeholder only (for the audit record)."""
        try:
            return found is not None and bool(found.audio) and all(
                self._spool.is_placeholder(found, a.fmt) for a in found.audio)
        except Exception:  # renumbered meanwhile, unreadable: not known
            return False

    def _discard(self, copy_id: str) -> None:
        self._delete_blobs(self._rows.discard(copy_id))

    def _delete_blobs(self, names: list[str]) -> None:
        for name in names:
            with contextlib.suppress(Exception):  # vault GC removes what is left
                self._vault.delete(name)

    def note(self, message_id: str) -> ForwardNote | None:
        return self._rows.note(message_id)


def _shown(to: MailboxRef, source: MailboxRef) -> str:
    """``2001`` within the sender's context, else ``2001@sales``."""
    return to.mailbox if to.context == source.context else str(to)
