"""The plain words of a play-on-phone call: OriginateResponse Reasons of capture q11 mapped to states,
the first final word standing, calls forgotten after their time."""

from __future__ import annotations

import pytest

from voicemail.ami.mailbox_control import CallOutcome
from voicemail.domain.models import MailboxRef
from voicemail.domain.phone_call import CallStatus
from voicemail.services.phone_calls import CallBook, state_of

BOX = MailboxRef("default", "1001")


@pytest.mark.parametrize(("code", "state"), [(3, "no_answer"), (5, "busy"), (8, "congestion"), (0, "unreachable"),
                                             (1, "failed"), (None, "failed"), (4, "failed")])
def test_a_failed_originate_is_named_by_its_reason(code: int | None, state: str) -> None:
    assert state_of(CallOutcome("r", "failed", f"reason {code}", code), ended=False) == state


def status(book: CallBook, call: str) -> CallStatus:
    """The call's status (the book must know the call)."""
    found = book.get(call)
    assert found is not None, call
    return found


def test_an_answered_call_is_playing_then_finished_whatever_ends_it() -> None:
    book = CallBook()
    call = book.start(BOX, "m1")
    assert status(book, call).state == "ringing" and not status(book, call).final
    book.update(call, CallOutcome("r", "answered", code=4), ended=False)
    assert status(book, call).message == "Your phone answered. The message is playing."
    book.update(call, CallOutcome("r", "timeout"), ended=True)  # its hangup was not seen
    assert status(book, call).state == "finished" and status(book, call).final


def test_the_first_final_word_stands() -> None:
    book = CallBook()
    call = book.start(BOX, "m1")
    book.update(call, CallOutcome("r", "failed", "reason 5", 5), ended=False)
    book.update(call, CallOutcome("r", "error", "ConnectionLost"), ended=True)
    assert status(book, call).message == "Your phone is busy."


def test_a_connection_lost_before_any_answer_is_a_failed_call() -> None:
    book = CallBook()
    call = book.start(BOX, "m1")
    book.update(call, CallOutcome("r", "error", "AmiConnectionLost"), ended=True)
    assert status(book, call).message == "The call to your phone failed."


def test_calls_are_kept_for_their_time_only() -> None:
    now = [1000.0]
    book = CallBook(keep_seconds=60, max_calls=3, clock=lambda: now[0])
    old = book.start(BOX, "m1")
    now[0] += 61
    fresh = [book.start(BOX, f"m{i}") for i in range(3)]
    assert book.get(old) is None and all(book.get(c) is not None for c in fresh[-2:])
    assert len({*fresh, old}) == 4  # ids are not reused
