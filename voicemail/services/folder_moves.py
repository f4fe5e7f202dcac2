"""FolderMoves: carries out, in Asterisk, the folder moves recorded as pending (the telephone menu's save).

The owner's decision is recorded first (``MailboxServices.save_to_old``: our listing, the pending move
and the audit event in one transaction); Asterisk's folder follows here, off the caller's key path:

* ``VoicemailMove`` from the folder our listing had, then ``VoicemailBoxSummary`` to confirm (one AMI
  round trip, ``move_from``); when Asterisk has the message elsewhere, the folder is looked up first and
  the move made from there. Idempotent: a move already done is seen in the re-read (capture q8:
  ``VoicemailMove`` says Success even when it duplicated), so a retry after a crash or an outage never
  moves twice.
* Confirmed: the pending row goes, the message's folder and spool number are set as Asterisk has them.
* The target is the folder our listing has when the move is carried out (``SqlPendingMoves.get``). A later
  decision replaces or removes the row in its own transaction (the web's mark, a delete destroying the
  key); one confirmed while this move was on its way is restored in ``_superseded``.
* A message that is no longer listed (destroyed, hidden under a hold) or that Asterisk no longer lists has
  nothing left to move: the row goes (logged).
* A failure (AMI down, timeout, the re-read does not confirm) leaves the row pending and sets a retry
  time, doubling from ``retry_first`` up to ``retry_max`` seconds; at ``alert_after`` failed attempts it is
  logged once as an error. Pending and failing moves are counted by the metrics
  (``voicemail_pending_moves``); the row stays until it is done, never dropped for failing.

``voicemail.services.follow_up.FollowUpWorker`` runs it in the background: at once for a move just
recorded, and every few seconds for the moves that are due (after a failure, or left by a crash: the
first sweep runs at start).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal, Protocol

from voicemail.domain.models import NEW_FOLDERS, MailboxRef, SpoolMessage
from voicemail.domain.pending_move import PendingMove
from voicemail.failpoints import Failpoints

log = logging.getLogger(__name__)

Outcome = Literal["moved", "dropped", "retry", "none"]


class MoveStore(Protocol):
    def get(self, message_id: str) -> PendingMove | None: ...

    def due(self, limit: int = 100, now: float | None = None) -> list[str]: ...

    def done(self, message_id: str, token: str, folder: str, number: int | None) -> bool: ...

    def drop(self, message_id: str, token: str) -> bool: ...

    def failed(self, message_id: str, token: str, error: str, retry_at: float) -> int: ...

    def counts(self) -> tuple[int, int]: ...

    def listed_folder(self, message_id: str) -> str | None: ...


class MoveControl(Protocol):
    def folder_of(self, mailbox: MailboxRef, msg_id: str) -> str | None: ...

    def move(self, mailbox: MailboxRef, msg_id: str, from_folder: str, to_folder: str) -> None: ...

    def move_from(self, mailbox: MailboxRef, msg_id: str, listed: str, to_folder: str) -> str | None: ...


class SpoolLookup(Protocol):
    def find(self, mailbox: MailboxRef, msg_id: str, hint: tuple[str, int] | None = None) -> SpoolMessage | None: ...


class FolderMoves:
    def __init__(self, store: MoveStore, control: MoveControl, spool: SpoolLookup | None = None, *,
                 retry_first: float = 1.0, retry_max: float = 60.0, alert_after: int = 5,
                 clock: Callable[[], float] = time.time, failpoints: Failpoints | None = None,
                 hold_folder: str = "Cust5") -> None:
        self._store = store
        self._control = control
        self._spool = spool
        self._retry_first = retry_first
        self._retry_max = max(retry_max, retry_first)
        self._alert_after = alert_after
        self._clock = clock
        self._fail = failpoints or Failpoints()
        self._hold_folder = hold_folder  # where a message deleted under a legal hold waits in Asterisk
        self.failures = 0  # failed attempts in this process

    def due(self, limit: int = 100) -> list[str]:
        return self._store.due(limit, self._clock())

    def pending(self) -> int:
        """Moves not confirmed yet, due or waiting for their retry time."""
        return self._store.counts()[0]

    def carry_out(self, message_id: str) -> Outcome:
        """Make Asterisk's folder follow the pending decision of ``message_id``, if there is one."""
        move = self._store.get(message_id)
        if move is None:
            return "none"
        if not move.listed and not (move.hidden and move.to_folder == self._hold_folder):
            self._store.drop(move.message_id, move.token)  # destroyed, vanished, or hidden since: nothing to do
            return "dropped"
        self._fail.hit("move.before_ami")
        try:
            current = self._apply(move)
        except Exception as exc:  # AMI down or slow, not confirmed, database unreachable: try again later
            self._failed(move, exc)
            return "retry"
        if current is None:
            log.warning("message %s: Asterisk no longer lists it; its move to %s was dropped", move.message_id,
                        move.to_folder)
            self._store.drop(move.message_id, move.token)
            return "dropped"
        number = None
        if self._spool is not None:
            found = self._spool.find(move.mailbox, move.msg_id)
            number = found.number if found is not None else None
        if not self._store.done(move.message_id, move.token, current, number):
            self._superseded(move, current)
            return "moved"
        if move.attempts >= self._alert_after:
            log.warning("message %s: its move to %s is done after %d failed attempt(s)", move.message_id,
                        current, move.attempts)
        return "moved"

    def _apply(self, move: PendingMove) -> str | None:
        """The folder Asterisk has the message in once moved (None: Asterisk does not list it)."""
        if move.from_folder != move.to_folder and not self._satisfied(move.from_folder, move.to_folder):
            was = self._control.move_from(move.mailbox, move.msg_id, move.from_folder, move.to_folder)
            if was is not None:
                return move.to_folder
        current = self._control.folder_of(move.mailbox, move.msg_id)
        if current is None or self._satisfied(current, move.to_folder):
            return current
        self._control.move(move.mailbox, move.msg_id, current, move.to_folder)
        return move.to_folder

    def _superseded(self, move: PendingMove, current: str) -> None:
        """A newer decision replaced this one while it was carried out (the web marked the message unread,
        or it was saved again). A newer pending move is carried out on its own; one confirmed by the web
        may have been made before this move reached Asterisk, so Asterisk is brought back to the folder
        our listing has now (the source of truth)."""
        if self._store.get(move.message_id) is not None:
            return
        listed = self._store.listed_folder(move.message_id)
        if listed is None or current == listed or (self._hold_folder not in (current, listed)
                                                   and (current in NEW_FOLDERS) == (listed in NEW_FOLDERS)):
            return
        try:
            # from where our move left it; None: moved on since (the web's mark read Asterisk again and moved it)
            if self._control.move_from(move.mailbox, move.msg_id, current, listed) == current:
                log.warning("message %s: moved to %s while a newer decision listed it in %s; moved back",
                            move.message_id, current, listed)
        except Exception as exc:
            log.error("message %s: Asterisk has it in %s, our listing in %s, and moving it back failed (%s); "
                      "marking it again on the web repairs it", move.message_id, current, listed,
                      type(exc).__name__)

    def _satisfied(self, current: str, target: str) -> bool:
        """Asterisk's folder already says what was decided: read means any folder but a new one (as the
        web's mark leaves it), the hold folder means exactly that one."""
        if current == target:
            return True
        return target != self._hold_folder and target not in NEW_FOLDERS and current not in NEW_FOLDERS

    def _failed(self, move: PendingMove, exc: Exception) -> None:
        self.failures += 1
        delay = min(self._retry_max, self._retry_first * 2 ** move.attempts)
        reason = f"{type(exc).__name__}: {exc}"
        try:
            attempts = self._store.failed(move.message_id, move.token, reason, self._clock() + delay)
        except Exception as store_exc:  # the database too: the row stays due and the next sweep tries again
            log.warning("message %s: recording a failed move failed too (%s)", move.message_id,
                        type(store_exc).__name__)
            return
        if attempts == self._alert_after:
            log.error("message %s: Asterisk has not confirmed its move to %s after %d attempts (%s); it stays "
                      "pending and is retried up to every %g s", move.message_id, move.to_folder, attempts,
                      type(exc).__name__, self._retry_max)
        else:
            log.info("message %s: move to %s not done yet (%s); retried in %g s", move.message_id,
                     move.to_folder, type(exc).__name__, delay)
