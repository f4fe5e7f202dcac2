"""The plain words of a play-on-phone call: OriginateResponse Reasons of capture q11 mapped to states,
the first final word standing, calls forgotten after their time."""

from __future__ import annotations

import pytest

from voicemail.ami.mailbox_control import CallOutcome
from voicemail.domain.models import MailboxRef
from voicemail.services.phone_calls import CallBook, state_of

BOX = MailboxRef("default", "1001")


@pytest.mark.parametrize(("code", "state"), [(3, "no_answer"), (5, "busy"), (8, "congestion"), (0, "unreachable"),
                                             (1, "failed"), (None, "failed"), (4, "failed")])
def test_a_failed_originate_is_named_by_its_reason(code: int | None, state: str) -> None:
    assert state_of(CallOutcome("r", "failed", f"reason {code}", code), ended=False) == state


def test_an_answered_call_is_playing_then_finished_whatever_ends_it() -> None:
    book = CallBook()
    call = book.start(BOX, "m1")
    assert book.get(call).state == "ringing" and not book.get(call).final  # type: ignore[union-attr]
    book.update(call, CallOutcome("r", "answered", code=4), ended=False)
    assert book.get(call).message == "Your phone answered. The message is playing."  # type: ignore[union-attr]
    book.update(call, CallOutcome("r", "timeout"), ended=True)  # its hangup was not seen
    assert book.get(call).state == "finished" and book.get(call).final  # type: ignore[union-attr]


def test_the_first_final_word_stands() -> None:
    book = CallBook()
    call = book.start(BOX, "m1")
    book.update(call, CallOutcome("r", "failed", "reason 5", 5), ended=False)
    book.update(call, CallOutcome("r", "error", "ConnectionLost"), ended=True)
    assert book.get(call).message == "Your phone is busy."  # type: ignore[union-attr]


def test_a_connection_lost_before_any_answer_is_a_failed_call() -> None:
    book = CallBook()
    call = book.start(BOX, "m1")
    book.update(call, CallOutcome("r", "error", "AmiConnectionLost"), ended=True)
    assert book.get(call).message == "The call to your phone failed."  # type: ignore[union-attr]


def test_calls_are_kept_for_their_time_only() -> None:
    now = [1000.0]
    book = CallBook(keep_seconds=60, max_calls=3, clock=lambda: now[0])
    old = book.start(BOX, "m1")
    now[0] += 61
    fresh = [book.start(BOX, f"m{i}") for i in range(3)]
    assert book.get(old) is None and all(book.get(c) is not None for c in fresh[-2:])
    assert len({*fresh, old}) == 4  # ids are not reused
