"""The pipeline's per-message figures of each site (several sites configured): what /metrics labels with
``site``. Read from the database like the snapshot (voicemail.observe.snapshot), grouped by the site of
each message (a notification's site is its message's). Only site names, states and counts.

Cost: the snapshot's passes over messages and notifications once more, grouped by site (notifications
joined to their messages), made only when more than one site is configured.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from voicemail.observe.snapshot import PENDING_CUSTODY, PENDING_NOTIFY, Latencies, messages, notifications, utc


@dataclass(frozen=True)
class SiteFigures:
    messages_by_state: dict[str, int] = field(default_factory=dict)
    discovered_total: int = 0
    sealed_total: int = 0
    stripped_total: int = 0
    notifications_by_state: dict[str, int] = field(default_factory=dict)
    oldest_custody_seconds: float = 0.0  # 0 = nothing pending
    oldest_notify_seconds: float = 0.0
    window: Latencies = field(default_factory=Latencies)

    @property
    def custody_pending(self) -> int:
        return sum(self.messages_by_state.get(s, 0) for s in PENDING_CUSTODY)

    @property
    def notify_pending(self) -> int:
        return sum(self.notifications_by_state.get(s, 0) for s in PENDING_NOTIFY)


def _seconds(now: dt.datetime, oldest: dt.datetime | None) -> float:
    return max(0.0, (now - utc(oldest)).total_seconds()) if oldest is not None else 0.0


def read_site_figures(conn: Connection, now: dt.datetime, cut: dt.datetime) -> dict[str, SiteFigures]:
    """Each site's figures (only the sites that have messages; the caller adds the others as zeros)."""
    m, n = messages.c, notifications.c
    by_state: dict[str, dict[str, int]] = defaultdict(dict)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for site, state, count, sealed, stripped in conn.execute(
            select(m.site, m.state, func.count(), func.count(m.sealed_at), func.count(m.stripped_at))
            .group_by(m.site, m.state)):
        by_state[site][state] = int(count)
        t = totals[site]
        t[0], t[1], t[2] = t[0] + int(count), t[1] + int(sealed), t[2] + int(stripped)
    joined = notifications.join(messages, m.id == n.message_id)
    notes: dict[str, dict[str, int]] = defaultdict(dict)
    for site, state, count in conn.execute(select(m.site, n.state, func.count()).select_from(joined)
                                           .group_by(m.site, n.state)):
        notes[site][state] = int(count)
    custody_age = dict(conn.execute(select(m.site, func.min(m.discovered_at))
                                    .where(m.state.in_(PENDING_CUSTODY)).group_by(m.site)).all())
    notify_age = dict(conn.execute(select(m.site, func.min(n.created_at)).select_from(joined)
                                   .where(n.state.in_(PENDING_NOTIFY)).group_by(m.site)).all())
    windows = _latencies(conn, cut)
    return {site: SiteFigures(
        messages_by_state=by_state.get(site, {}), discovered_total=totals[site][0], sealed_total=totals[site][1],
        stripped_total=totals[site][2], notifications_by_state=notes.get(site, {}),
        oldest_custody_seconds=_seconds(now, custody_age.get(site)),
        oldest_notify_seconds=_seconds(now, notify_age.get(site)), window=windows.get(site, Latencies()))
        for site in set(by_state) | set(notes)}


def _latencies(conn: Connection, cut: dt.datetime) -> dict[str, Latencies]:
    """Each site's latencies of the messages sealed, and of the notifications sent, at or after ``cut``."""
    m, n = messages.c, notifications.c
    seal: dict[str, list[float]] = defaultdict(list)
    for site, discovered, sealed in conn.execute(select(m.site, m.discovered_at, m.sealed_at)
                                                 .where(m.updated_at >= cut, m.sealed_at >= cut)):
        seal[site].append(max(0.0, (utc(sealed) - utc(discovered)).total_seconds()))
    notify: dict[str, list[float]] = defaultdict(list)
    total: dict[str, list[float]] = defaultdict(list)
    for site, discovered, sealed, sent in conn.execute(
            select(m.site, m.discovered_at, m.sealed_at, n.sent_at).select_from(
                notifications.join(messages, m.id == n.message_id)).where(n.updated_at >= cut, n.sent_at >= cut)):
        if sealed is not None:
            notify[site].append(max(0.0, (utc(sent) - utc(sealed)).total_seconds()))
        total[site].append(max(0.0, (utc(sent) - utc(discovered)).total_seconds()))
    return {site: Latencies(tuple(seal.get(site, ())), tuple(notify.get(site, ())), tuple(total.get(site, ())))
            for site in set(seal) | set(total)}
