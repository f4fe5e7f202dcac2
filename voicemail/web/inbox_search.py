"""The inbox's search fields: a caller (name or number) and a date range, the dates read as whole days in
the viewer's time zone ("from 2026-12-01 to 2026-12-03" is 1 December 00:00 to 4 December 00:00 there)."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from voicemail.domain.errors import InvalidInput

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@dataclass(frozen=True)
class Search:
    caller: str = ""
    received_from: int | None = None  # epoch seconds, inclusive
    received_before: int | None = None  # epoch seconds, exclusive


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as "America"
        return zoneinfo.ZoneInfo("UTC")


def _day(text: str, which: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    if _DATE.match(text):
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(text)
    raise InvalidInput(f"The {which} date must be a date written like 2026-12-04.")


def _start(day: dt.date, zone: zoneinfo.ZoneInfo) -> int:
    return int(dt.datetime.combine(day, dt.time(0), tzinfo=zone).timestamp())


def parse_search(caller: str, date_from: str, date_to: str, zone_name: str) -> Search:
    """The search as the inbox query wants it; InvalidInput with a sentence for the person otherwise."""
    zone = _zone(zone_name)
    first, last = _day(date_from, "'from'"), _day(date_to, "'to'")
    if first is not None and last is not None and first > last:
        raise InvalidInput("The 'from' date is after the 'to' date.")
    return Search(caller=caller.strip(),
                  received_from=_start(first, zone) if first else None,
                  received_before=_start(last + dt.timedelta(days=1), zone) if last else None)
