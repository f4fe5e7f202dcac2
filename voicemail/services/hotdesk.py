"""Extension mobility (hot-desking): a user signs in to any phone with extension + PIN, and calls to
their extension ring that phone until they sign out or are signed out after ``max_hours``.

* The routing is Asterisk's AstDB: family ``voicemail-em``, key = device name, value = the extension
  (just the digits, so the dialplan can use ``${DB(voicemail-em/${CHANNEL(endpoint)})}`` as it is).
* The PIN is the telephone menu's (``PinService``: the same lockout, the same ``phone.signin`` audit).
  Nothing is written to AstDB unless the PIN check passed.
* The times live in our database (``HotdeskStore``); AstDB has none we could trust. ``expire`` signs
  out every sign-in older than ``max_hours`` (run periodically by ``voicemail run``).
* Every sign-in and sign-out is audited: ``hotdesk.signin`` / ``hotdesk.signout`` with the device, the
  mailbox and how it ended (``caller``, ``expired``, ``replaced``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal, Protocol

from voicemail.ami.astdb import KEY
from voicemail.audit.chain import AuditEvent
from voicemail.domain.errors import InvalidInput, InvalidMailbox
from voicemail.domain.models import MailboxRef
from voicemail.phone.hotdesk_store import DeskSession
from voicemail.services.phone_pins import PinService
from voicemail.services.shred import AuditSink

log = logging.getLogger(__name__)

FAMILY = "voicemail-em"
SignIn = Literal["ok", "wrong", "locked", "unknown"]


class DeskDb(Protocol):
    """AstDB entries of the family ``voicemail-em`` (blocking)."""

    def put(self, device: str, value: str) -> None: ...

    def get(self, device: str) -> str | None: ...

    def delete(self, device: str) -> bool: ...


class HotdeskStore(Protocol):
    def open(self, device: str, ref: MailboxRef, now: float, source: str) -> int: ...

    def current(self, device: str) -> DeskSession | None: ...

    def close(self, device: str, now: float, ended_by: str) -> list[DeskSession]: ...

    def open_since_before(self, cutoff: float) -> list[DeskSession]: ...

    def history(self, refs: tuple[MailboxRef, ...], limit: int = 50) -> list[DeskSession]: ...


def check_device(device: str | None) -> str:
    """A device name as AstDB key: letters, digits and ``_ . : @ + = -`` (no ``/``, no blanks)."""
    if not device or not KEY.match(device):
        raise InvalidInput("not a device name")
    return device


class HotdeskService:
    """The devices of one Asterisk: ``db`` is its AstDB, ``store`` its sign-ins, ``site`` the site its
    mailboxes belong to (as a MailboxRef names it: empty for the default site). ``audit_site``: with
    several sites that site's name, recorded in every sign-in and sign-out event; empty with one site."""

    def __init__(self, pins: PinService, db: DeskDb, store: HotdeskStore, audit: AuditSink, *,
                 default_context: str = "default", max_hours: float = 12.0,
                 clock: Callable[[], float] = time.time, site: str = "", audit_site: str = "") -> None:
        self._site = site
        self._audit_site = audit_site
        self._pins = pins
        self._db = db
        self._store = store
        self._audit = audit
        self._context = default_context
        self.max_hours = max_hours
        self._clock = clock

    def signed_in(self, device: str) -> str | None:
        """The extension the device has now (as AstDB routes it), or None."""
        value = self._db.get(check_device(device))
        extension = (value or "").split(";", 1)[0].strip()
        return extension or None

    def sign_in(self, device: str, extension: str, pin: str, *, source: str) -> SignIn:
        check_device(device)
        try:
            ref: MailboxRef | None = (MailboxRef.parse(extension, self._context).on_site(self._site)
                                      if extension.isdigit() else None)
        except InvalidMailbox:
            ref = None
        verdict = self._pins.verify(ref, pin, source=source)  # audits phone.signin, counts towards the lockout
        if verdict != "ok" or ref is None:
            return "unknown" if ref is None else verdict
        self._end(device, "replaced", source)  # whoever had this phone before
        now = self._clock()
        self._store.open(device, ref, now, source)
        try:
            self._db.put(device, ref.mailbox)
        except Exception:
            self._store.close(device, now, "error")
            raise
        self._event(ref, "hotdesk.signin", source, device=device)
        log.info("extension mobility: %s signed in on %s", ref, device)
        return "ok"

    def sign_out(self, device: str, *, source: str, ended_by: str = "caller") -> bool:
        """Remove the device's AstDB entry and end its sign-in. False when it had none."""
        return self._end(check_device(device), ended_by, source)

    def expire(self) -> int:
        """Sign out every sign-in older than ``max_hours`` (0: none). Returns how many."""
        if self.max_hours <= 0:
            return 0
        cutoff = self._clock() - self.max_hours * 3600
        done = 0
        for session in self._store.open_since_before(cutoff):
            try:
                if self._end(session.device, "expired", "hotdesk expiry"):
                    done += 1
            except Exception:
                log.exception("extension mobility: cannot sign out device %s", session.device)
        return done

    def history(self, refs: tuple[MailboxRef, ...], limit: int = 50) -> list[DeskSession]:
        return self._store.history(refs, limit)

    def _end(self, device: str, ended_by: str, source: str) -> bool:
        current = self._store.current(device)
        routed = self.signed_in(device)
        # AstDB first: once the entry is gone, calls no longer ring this phone. An entry that names
        # someone else than our open sign-in (written by hand) is left alone.
        if routed is not None and (current is None or routed == current.mailbox.mailbox):
            self._db.delete(device)
        ended = self._store.close(device, self._clock(), ended_by)
        for session in ended:
            self._event(session.mailbox, "hotdesk.signout", source, device=device, ended_by=ended_by,
                        since=round(session.signed_in_at))
            log.info("extension mobility: %s signed out of %s (%s)", session.mailbox, device, ended_by)
        if not ended and routed is not None and current is None:
            self._event(None, "hotdesk.signout", source, device=device, ended_by=ended_by, extension=routed)
        return bool(ended) or routed is not None

    def _event(self, ref: MailboxRef | None, action: str, source: str, **details: object) -> None:
        where = {"site": self._audit_site} if self._audit_site else {}
        self._audit.append(AuditEvent(actor=f"phone:{ref if ref is not None else 'unknown'}", action=action,
                                      outcome="ok", source=source,
                                      details={"mailbox": str(ref) if ref is not None else None, **details,
                                               **where}))
