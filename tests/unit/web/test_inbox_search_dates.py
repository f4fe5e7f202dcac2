"""The inbox search's dates: whole days in the viewer's time zone, a wrong date is a sentence."""

from __future__ import annotations

import datetime as dt

import pytest

from voicemail.domain.errors import InvalidInput
from voicemail.web.inbox_search import parse_search


def at(year: int, month: int, day: int, *, zone: str) -> int:
    from zoneinfo import ZoneInfo

    return int(dt.datetime(year, month, day, tzinfo=ZoneInfo(zone)).timestamp())


def test_a_day_runs_from_midnight_to_midnight_in_the_viewers_zone() -> None:
    found = parse_search("", "2026-03-29", "2026-03-29", "Europe/Berlin")  # the clocks go forward that night
    assert found.received_from == at(2026, 3, 29, zone="Europe/Berlin")
    assert found.received_before == at(2026, 3, 30, zone="Europe/Berlin")
    assert found.received_before - found.received_from == 23 * 3600


def test_empty_fields_search_nothing() -> None:
    found = parse_search("  ", "", "", "UTC")
    assert (found.caller, found.received_from, found.received_before) == ("", None, None)


def test_unknown_zone_reads_the_dates_in_utc() -> None:
    assert parse_search("", "2026-01-01", "", "America").received_from == at(2026, 1, 1, zone="UTC")


@pytest.mark.parametrize(("first", "last", "said"), [
    ("20260101", "", "The 'from' date must be a date written like 2026-12-04."),
    ("", "2026-13-01", "The 'to' date must be a date written like 2026-12-04."),
    ("2026-01-02", "2026-01-01", "The 'from' date is after the 'to' date."),
])
def test_wrong_dates_are_refused_with_a_sentence(first: str, last: str, said: str) -> None:
    with pytest.raises(InvalidInput, match=said):
        parse_search("", first, last, "UTC")
