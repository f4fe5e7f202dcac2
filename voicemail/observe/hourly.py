"""Hour by hour over the last day, for the operations page: messages left, and how long custody took."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from voicemail.observe.snapshot import messages, sent_since, utc


@dataclass(frozen=True)
class Hour:
    start: dt.datetime
    messages: int  # discovered in this hour
    notified: int  # notifications sent in this hour
    p50: float | None  # seconds from discovery to notification, of those sent in this hour
    p95: float | None


def quantile(values: list[float], q: float) -> float | None:
    """Nearest-rank quantile (the value at or below which a fraction q of the values lie)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def last_day(engine: Engine, now: dt.datetime, hours: int = 24) -> list[Hour]:
    top = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    cut = top - dt.timedelta(hours=hours)
    left = [0] * hours
    waits: list[list[float]] = [[] for _ in range(hours)]

    def slot(at: dt.datetime) -> int | None:
        index = int((utc(at) - cut).total_seconds() // 3600)
        return index if 0 <= index < hours else None

    m = messages.c
    with engine.connect() as conn:
        for (discovered,) in conn.execute(select(m.discovered_at).where(m.updated_at >= cut, m.discovered_at >= cut)):
            i = slot(discovered)
            if i is not None:
                left[i] += 1
        for discovered, _sealed, sent in sent_since(conn, cut):
            i = slot(sent)
            if i is not None:
                waits[i].append(max(0.0, (sent - discovered).total_seconds()))
    return [Hour(cut + dt.timedelta(hours=i), left[i], len(waits[i]), quantile(waits[i], 0.5),
                 quantile(waits[i], 0.95)) for i in range(hours)]
