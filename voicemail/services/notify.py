"""Notification: compose the ViewMail e-mail for one sealed message and hand it to the mailer.

The notification row moves pending -> sending -> sent | failed in the database, so a crash shows
which state a notification was in. A worker sends only under a lease: claiming the row gives it a fencing
token and ``lease_seconds`` (stale_after); while the lease lives no other worker claims the row (a broker
re-delivering the task during the send gets "busy"). Right before the send commits (the mailer's
``before_commit``: SMTP's final dot) the lease is renewed if, and only if, the token is still the newest:
a worker that was paused past its lease (SIGSTOP, a long GC pause, a frozen VM) and overtaken abandons
its send. After the send the token is checked again and a lost lease is logged as a possible duplicate.
A second copy is still possible when the worker dies or is paused after the server accepted the message
and before the database recorded it (the sweeper then sends it again once the lease has ended).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mailer.compose import compose
from mailer.facts import NotificationFacts
from mailer.settings import MailSettings
from voicemail.domain.errors import InvalidInput, LeaseLost, PermanentError, TransientError
from voicemail.domain.forwarding import ForwardNote
from voicemail.domain.models import MailboxRef, OutgoingEmail
from voicemail.domain.ports import Directory, Mailer, MessageStore, OwnerPreferences
from voicemail.domain.records import MessageRecord
from voicemail.failpoints import Failpoints

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotifySettings:
    web_base_url: str
    default_timezone: str = "UTC"
    lease_seconds: float = 60.0  # stale_after: how long a claim holds; longer than any one mail attempt
    play_on_phone: bool = False  # the web player offers "Play on my phone": the e-mail says so
    # several sites: the e-mail names the mailbox's site ("in mailbox 1001@default on site branch"); the
    # default site's name for a mailbox named without one. With one site (None) no site is shown.
    default_site: str | None = None
    # several sites: the sites whose owners' phones "Play on my phone" can ring (a site's own
    # phone_device_template, else the global one); None = ``play_on_phone`` for every mailbox.
    phone_sites: frozenset[str] | None = None


class Notifier:
    def __init__(self, store: MessageStore, mailer: Mailer, mail_settings: MailSettings,
                 settings: NotifySettings, directory: Directory | None = None,
                 failpoints: Failpoints | None = None, preferences: OwnerPreferences | None = None,
                 new_messages: Callable[[MailboxRef], int] | None = None,
                 forward_note: Callable[[str], ForwardNote | None] | None = None,
                 forward_notes: Callable[[Sequence[str]], Mapping[str, ForwardNote]] | None = None) -> None:
        self._store = store
        self._mailer = mailer
        self._mail = mail_settings
        self._settings = settings
        self._directory = directory
        self._fail = failpoints or Failpoints()
        self._preferences = preferences
        self._new_messages = new_messages
        self._forward_note = forward_note  # who forwarded a message to its owner, and their comment
        self._forward_notes = forward_notes  # the same for many messages in one look-up (a batch)

    def forward_notes(self, message_ids: Sequence[str]) -> Mapping[str, ForwardNote] | None:
        """The forward notes of many messages at once (those that are forwarded copies), for ``compose_for``;
        None when they can only be looked up one by one."""
        if self._forward_notes is None:
            return None if self._forward_note is not None else {}
        return self._forward_notes(message_ids)

    def new_count(self, mailbox: MailboxRef) -> int:
        """New messages in the mailbox, this one included (1 when they cannot be counted)."""
        if self._new_messages is None:
            return 1
        try:
            return max(1, self._new_messages(mailbox))
        except Exception as exc:  # a count is not worth failing the notification for
            log.warning("could not count new messages for the notification: %s", type(exc).__name__)
            return 1

    def recipient(self, mailbox: MailboxRef) -> tuple[str, str, str]:
        """(address, display name, time zone): the owner's own choice on the web settings page first,
        then the directory, else Asterisk's mailbox e-mail. The directory's extensions are the default
        site's: a mailbox of another site is never looked up there (its 1001 is somebody else)."""
        owner = self._store.owner(mailbox)
        directory = self._directory if not mailbox.site else None
        name = owner.fullname if owner else ""
        chosen_address, chosen_zone = self._preferences.for_mailbox(mailbox) if self._preferences else ("", "")
        zone = chosen_zone or (owner.timezone if owner else "") or self._settings.default_timezone
        if chosen_address:
            entry = directory.lookup(mailbox.mailbox) if directory is not None else None
            return chosen_address, (entry.name if entry and entry.name else name), zone
        if directory is not None:
            entry = directory.lookup(mailbox.mailbox)
            if entry is not None and entry.email:
                return entry.email, entry.name or name, zone
        if owner is not None and owner.email:
            return owner.email, name, zone
        raise PermanentError(f"mailbox {mailbox} has no e-mail address (directory or voicemail.conf)")

    def compose_for(self, record: MessageRecord, notification_id: str,
                    recipient: tuple[str, str, str] | None = None, new_count: int | None = None,
                    notes: Mapping[str, ForwardNote] | None = None) -> tuple[OutgoingEmail, str]:
        """The notification e-mail for ``record`` and its address. ``recipient`` (address, name, time zone),
        ``new_count`` and the forward ``notes`` (``forward_notes``) when the caller looked them up already
        (a batch: once per mailbox, once for all its messages)."""
        address, name, zone = recipient if recipient is not None else self.recipient(record.mailbox)
        if notes is not None:
            note = notes.get(record.id)
        else:
            note = self._forward_note(record.id) if self._forward_note is not None else None
        facts = NotificationFacts(
            notification_id=notification_id, recipient=address, recipient_name=name,
            mailbox=str(record.mailbox), caller=record.caller,
            received_at=dt.datetime.fromtimestamp(record.origtime, dt.UTC),
            duration_seconds=max(0, record.duration), urgent=record.urgent,
            player_url=f"{self._settings.web_base_url.rstrip('/')}/messages/{record.id}",
            owner_timezone=zone, new_count=new_count if new_count is not None else self.new_count(record.mailbox),
            play_on_phone=self._plays_on_phone(record.mailbox),
            forwarded_by=note.forwarder_label if note else "", forward_comment=note.comment if note else "",
            site=self._site_shown(record.mailbox))
        return compose(facts, self._mail), address

    def _plays_on_phone(self, mailbox: MailboxRef) -> bool:
        """The web player offers "Play on my phone" for this mailbox's messages."""
        sites, default = self._settings.phone_sites, self._settings.default_site
        if sites is None or default is None:
            return self._settings.play_on_phone
        return (mailbox.site or default) in sites

    def _site_shown(self, mailbox: MailboxRef) -> str:
        """The mailbox's site as the e-mail names it: with one site configured, none."""
        default = self._settings.default_site
        return "" if default is None else (mailbox.site or default)

    def send(self, notification_id: str) -> str:
        """Send one notification. Returns "sent", "already" or "busy" (another worker holds its lease).
        TransientError propagates for a retry (LeaseLost: overtaken, sent by the newer worker);
        PermanentError marks the notification failed (the caller parks it as a dead letter)."""
        lease = self._settings.lease_seconds
        work = self._store.claim_notification(notification_id, lease)
        if work is None:
            return "already"
        if work.state == "busy":
            log.info("notification %s is being sent by another worker (lease held)", notification_id)
            return "busy"
        token = work.token

        def before_commit() -> None:
            if not self._store.renew_lease(notification_id, token, lease):
                log.warning("notification %s: lease lost before sending (overtaken); this send is abandoned",
                            notification_id)
                raise LeaseLost(f"notification {notification_id}: another worker took it over")

        record = self._store.get(work.message_id)
        try:
            email, address = self.compose_for(record, notification_id)
            self._mailer.send(email, before_commit)
            self._fail.hit("notify.after_send")
        except (PermanentError, InvalidInput) as exc:
            self._store.mark_notification_failed(notification_id, str(exc))
            raise PermanentError(str(exc)) from exc
        except TransientError:  # failed in our hands: the retry may claim it at once (unless overtaken)
            self._store.release_lease(notification_id, token)
            raise
        if not self._store.mark_notification_sent(notification_id, address, token):
            log.error("notification %s: the lease was lost while the mail server took the message; the owner "
                      "may receive a second copy", notification_id)
        log.info("notification %s sent for message %s", notification_id, record.id)
        return "sent"
