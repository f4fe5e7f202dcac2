"""The figures of each site (several sites configured): what /metrics labels with ``site`` and what the
operations page shows per site. Read from the database like the snapshot (voicemail.observe.snapshot),
grouped by the site of each message (a notification's, a dead letter's, a recording's and a pending
move's site is its message's). Only site names, states, task names and counts.

Cost: the snapshot's passes over messages, notifications and recordings once more, grouped by site
(joined to their messages), plus the open dead letters and pending moves (few rows) joined to theirs;
made only when more than one site is configured.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from voicemail.observe.snapshot import (
    NOTIFY_TASK,
    PENDING_CUSTODY,
    PENDING_NOTIFY,
    Latencies,
    MessageFigures,
    dead_letters,
    messages,
    notifications,
    pending_moves,
    recordings,
    utc,
)


def _seconds(now: dt.datetime, oldest: dt.datetime | None) -> float:
    return max(0.0, (now - utc(oldest)).total_seconds()) if oldest is not None else 0.0


def read_site_figures(conn: Connection, now: dt.datetime, cut: dt.datetime) -> dict[str, MessageFigures]:
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
    letters, parked = _dead_letters(conn)
    vault = _vault_bytes(conn)
    moves = _pending_moves(conn)
    return {site: MessageFigures(
        messages_by_state=by_state.get(site, {}), discovered_total=totals[site][0], sealed_total=totals[site][1],
        stripped_total=totals[site][2], notifications_by_state=notes.get(site, {}),
        oldest_custody_seconds=_seconds(now, custody_age.get(site)),
        oldest_notify_seconds=_seconds(now, notify_age.get(site)), window=windows.get(site, Latencies()),
        dead_letters_open=letters.get(site, {}), notifications_failed=notes.get(site, {}).get("failed", 0)
        + parked.get(site, 0), vault_bytes=vault.get(site, 0), pending_moves=moves.get(site, (0, 0))[0],
        pending_moves_failing=moves.get(site, (0, 0))[1])
        for site in set(by_state) | set(notes)}


def _dead_letters(conn: Connection) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Each site's open dead letters by task (a custody task's refers to its message, a notification's to
    its notification), and its parked notifications that are not in state failed (as the snapshot's)."""
    m, n, d = messages.c, notifications.c, dead_letters.c
    open_ = d.resolved_at.is_(None)
    letters: dict[str, dict[str, int]] = defaultdict(dict)
    for site, task, count in conn.execute(
            select(m.site, d.task, func.count()).select_from(dead_letters.join(messages, m.id == d.ref_id))
            .where(open_, d.task != NOTIFY_TASK).group_by(m.site, d.task)):
        letters[site][task] = int(count)
    parked: dict[str, int] = {}
    for site, count, not_failed in conn.execute(
            select(m.site, func.count(), func.count().filter(n.state.not_in(("sent", "failed"))))
            .select_from(dead_letters.join(notifications, n.id == d.ref_id).join(messages, m.id == n.message_id))
            .where(open_, d.task == NOTIFY_TASK).group_by(m.site)):
        letters[site][NOTIFY_TASK] = int(count)
        parked[site] = int(not_failed)
    return letters, parked


def _vault_bytes(conn: Connection) -> dict[str, int]:
    r, m = recordings.c, messages.c
    return {site: int(total or 0) for site, total in conn.execute(
        select(m.site, func.sum(r.size)).select_from(recordings.join(messages, m.id == r.message_id))
        .group_by(m.site))}


def _pending_moves(conn: Connection) -> dict[str, tuple[int, int]]:
    p, m = pending_moves.c, messages.c
    return {site: (int(total), int(failing)) for site, total, failing in conn.execute(
        select(m.site, func.count(), func.count().filter(p.attempts > 0))
        .select_from(pending_moves.join(messages, m.id == p.message_id)).group_by(m.site))}


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
