"""PinService: the telephone menu's PINs - check one, set one, import a site's, lock out guessers.

* PINs are stored only as argon2id hashes (``PinHasher``); an unknown mailbox burns the same hashing
  time as a known one, so timing does not tell which mailboxes exist.
* ``max_failures`` wrong PINs in a row (across calls) lock the mailbox for ``lockout_seconds``; a locked
  mailbox refuses even the right PIN until the time is up or an administrator unlocks it.
* Every failure, every lockout, every sign-in, every PIN change and unlock is an audit event
  (``phone.signin``, ``phone.lockout``, ``phone.pin.set``, ``phone.pin.import``, ``phone.unlock``).
  The PIN itself is never logged or audited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from voicemail.audit.chain import AuditEvent
from voicemail.domain.errors import InvalidInput
from voicemail.domain.models import MailboxRef
from voicemail.phone.pin_policy import refusal, trivial_reason
from voicemail.phone.voicemail_conf import ConfProblem, read_pins
from voicemail.services.shred import AuditSink

log = logging.getLogger(__name__)

Verdict = Literal["ok", "wrong", "locked", "unknown"]


class PinRecord(Protocol):
    @property
    def pin_hash(self) -> str: ...

    @property
    def failed_count(self) -> int: ...

    @property
    def locked_until(self) -> float | None: ...


# (result, failures so far, locked now) -> the audit events of a settled PIN entry
Settled = Callable[[str, int, bool], list[AuditEvent]]


class PinStore(Protocol):
    def get(self, ref: MailboxRef) -> PinRecord | None: ...

    def put(self, ref: MailboxRef, pin_hash: str, by: str, now: float) -> None: ...

    def settle(self, ref: MailboxRef, matched: bool, now: float, threshold: int, lock_seconds: float,
               events: Settled | None = None) -> tuple[str, int, bool, bool]:
        """Atomically: "locked" when the mailbox is locked at ``now`` (nothing counted), else "ok" (counter
        cleared) or "wrong" (counted; at ``threshold`` the mailbox is locked). ``events`` gives the audit
        events of the outcome; a store that can, appends them in the same transaction. -> (result, count,
        locked now, whether the events were appended)"""
        ...

    def unlock(self, ref: MailboxRef) -> bool: ...


class PinHasher(Protocol):
    def hash(self, pin: str) -> str: ...

    def verify(self, stored: str | None, pin: str) -> bool:
        """True when ``pin`` matches; ``stored`` None burns the same time and is False."""
        ...


class Argon2PinHasher:
    """argon2id (argon2-cffi). The defaults are the library's (as for web passwords); tests may pass
    cheaper parameters."""

    def __init__(self, time_cost: int | None = None, memory_cost: int | None = None,
                 parallelism: int | None = None) -> None:
        from argon2 import PasswordHasher

        given = {"time_cost": time_cost, "memory_cost": memory_cost, "parallelism": parallelism}
        self._hasher = PasswordHasher(**{k: v for k, v in given.items() if v is not None})  # type: ignore[arg-type]
        self._dummy: str | None = None

    def hash(self, pin: str) -> str:
        return self._hasher.hash(pin)

    def verify(self, stored: str | None, pin: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        if self._dummy is None:
            self._dummy = self._hasher.hash("0000000000")  # verified against for unknown mailboxes
        try:
            self._hasher.verify(stored or self._dummy, pin)
        except (VerificationError, InvalidHashError):
            return False
        return stored is not None


@dataclass(frozen=True)
class ImportReport:
    imported: list[MailboxRef] = field(default_factory=list)
    weak: list[tuple[MailboxRef, str]] = field(default_factory=list)  # imported, but trivial or too short
    problems: list[ConfProblem] = field(default_factory=list)


class PinService:
    """``default_site``: with several sites, the default site's name, and every event then names the
    mailbox's site (``site``); empty (one site): no event names one."""

    def __init__(self, store: PinStore, hasher: PinHasher, audit: AuditSink, *, min_length: int = 4,
                 max_failures: int = 5, lockout_seconds: float = 900.0,
                 clock: Callable[[], float] = time.time, default_site: str = "") -> None:
        self._default_site = default_site
        self._store = store
        self._hasher = hasher
        self._audit = audit
        self.min_length = min_length
        self._max_failures = max_failures
        self._lockout = lockout_seconds
        self._clock = clock

    def verify(self, ref: MailboxRef | None, pin: str, *, source: str) -> Verdict:
        """Check a PIN entered on the phone (``ref`` None: the caller typed something that is not a
        mailbox). Audits failures and lockouts (and the sign-in on success)."""
        record = self._store.get(ref) if ref is not None else None
        matches = self._hasher.verify(record.pin_hash if record is not None else None, pin[:64])
        now = self._clock()
        if ref is None or record is None:
            self._event(ref, "phone.signin", source, "denied", result="unknown mailbox")
            return "unknown"
        if record.locked_until is not None and record.locked_until > now:
            self._event(ref, "phone.signin", source, "denied", result="locked",
                        until=round(record.locked_until))
            return "locked"

        def settled(result: str, count: int, locked: bool) -> list[AuditEvent]:
            if result == "locked":  # locked meanwhile by another call
                return [self._audit_event(ref, "phone.signin", source, "denied", result="locked")]
            if result == "ok":
                return [self._audit_event(ref, "phone.signin", source, "ok")]
            out = [self._audit_event(ref, "phone.signin", source, "denied", result="wrong PIN", failures=count)]
            if locked:
                out.append(self._audit_event(ref, "phone.lockout", source, "denied", failures=count,
                                             until=round(now + self._lockout)))
            return out

        # the outcome and its audit events in one transaction where the store can (one commit per entry)
        result, count, locked, audited = self._store.settle(ref, matches, now, self._max_failures, self._lockout,
                                                            settled)
        if not audited:
            for event in settled(result, count, locked):
                self._audit.append(event)
        if locked:
            log.warning("mailbox %s locked for phone access after %d wrong PINs", ref, count)
        return "ok" if result == "ok" else "locked" if result == "locked" else "wrong"

    def check_new(self, ref: MailboxRef, pin: str) -> str | None:
        """Why ``pin`` may not become ``ref``'s PIN, or None."""
        return refusal(pin, ref.mailbox, self.min_length)

    def set_pin(self, ref: MailboxRef, pin: str, *, actor: str, source: str) -> None:
        """Raises InvalidInput (nothing changed) for a PIN the policy refuses."""
        why = self.check_new(ref, pin)
        if why is not None:
            raise InvalidInput(f"PIN not set for mailbox {ref}: {why}")
        self._store.put(ref, self._hasher.hash(pin), actor, self._clock())
        self._event(ref, "phone.pin.set", source, "ok", actor=actor)

    def unlock(self, ref: MailboxRef, *, actor: str, source: str) -> bool:
        done = self._store.unlock(ref)
        self._event(ref, "phone.unlock", source, "ok" if done else "error", actor=actor,
                    **({} if done else {"result": "no PIN for this mailbox"}))
        return done

    def import_conf(self, text: str, *, actor: str, source: str, site: str = "") -> ImportReport:
        """Hash and store every mailbox password of a voicemail.conf (of the Asterisk of ``site``; empty:
        the default site). Weak ones are imported too (the owners use them today) and reported, so that
        they can be told to change them."""
        pins, problems = read_pins(text)
        report = ImportReport(problems=list(problems))
        for entry in pins:
            ref = entry.mailbox.on_site(site)
            self._store.put(ref, self._hasher.hash(entry.pin), actor, self._clock())
            report.imported.append(ref)
            if len(entry.pin) < self.min_length:
                report.weak.append((ref, f"shorter than {self.min_length} digits"))
            elif (why := trivial_reason(entry.pin, ref.mailbox)) is not None:
                report.weak.append((ref, why))
        where = {"site": site or self._default_site} if self._default_site else {}
        self._audit.append(AuditEvent(actor=actor, action="phone.pin.import", source=source, details={
            "imported": len(report.imported), "weak": [str(r) for r, _ in report.weak],
            "problems": len(report.problems), **where}))
        return report

    def _event(self, ref: MailboxRef | None, action: str, source: str, outcome: str, *, actor: str = "",
               **details: object) -> None:
        self._audit.append(self._audit_event(ref, action, source, outcome, actor=actor, **details))

    def _audit_event(self, ref: MailboxRef | None, action: str, source: str, outcome: str, *, actor: str = "",
                     **details: object) -> AuditEvent:
        if self._default_site and ref is not None:
            details["site"] = ref.site or self._default_site
        return AuditEvent(actor=actor or f"phone:{ref if ref is not None else 'unknown'}", action=action,
                          outcome=outcome, source=source,
                          details={"mailbox": str(ref) if ref is not None else None, **details})
