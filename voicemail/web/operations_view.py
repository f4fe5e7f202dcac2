"""What the operations page shows, worked out from the snapshot, the probes and the listener's state:
status cards (OK / attention / not known here, with the thresholds of deploy/prometheus/alerts.yaml),
a one-line summary, and the two charts of the last 24 hours."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from voicemail.observe.charts import bar_chart, seconds_text
from voicemail.observe.observer import Observer
from voicemail.observe.snapshot import Snapshot

CUSTODY_LATE = 600.0  # seconds; as the alert VoicemailCustodyBacklog
NOTIFY_LATE = 1800.0  # as VoicemailNotificationBacklog
RECONCILE_LATE = 1800.0  # as VoicemailReconciliationStale
QUOTA_FULL = 0.9


@dataclass(frozen=True)
class Card:
    id: str
    title: str
    state: str  # ok | attention | unknown
    text: str
    figure: str | None = None  # a number shown in bold before the text
    command: str | None = None  # a command that helps, shown as code after the text


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "none yet"
    return "just now" if seconds < 1 else f"{seconds_text(round(seconds))} ago"


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _state(ok: bool | None) -> str:
    return "unknown" if ok is None else ("ok" if ok else "attention")


def waiting(count: int, oldest: float, noun: str, late: float) -> tuple[str, str]:
    text = noun + (f"; the oldest for {seconds_text(round(oldest))}" if count else "")
    return _state(not count or oldest < late), text


def cards(observer: Observer, snap: Snapshot, took: float, checks: dict[str, dict[str, Any]]) -> list[Card]:
    st, runtime = observer.settings, observer.runtime
    out: list[Card] = []
    if runtime is not None:
        connected = runtime.ami_connected()
        if not runtime.listener_lease_held():  # a stand-by: another process holds the site's listener lease
            out.append(Card("ami", "Phone system (AMI)", "ok", "stand-by: another `voicemail run` holds the "
                            "listener lease; this one takes over when it lapses"))
        else:
            out.append(Card("ami", "Phone system (AMI)", _state(connected),
                            f"{'connected' if connected else 'not connected'}; "
                            f"{max(0, runtime.ami_connects() - 1)} reconnect(s) since start"))
    else:
        probe = checks.get("ami", {"ok": None, "detail": "not checked"})
        out.append(Card("ami", "Phone system (AMI)", _state(probe["ok"]), f"{probe['detail']} (port check; the "
                        "listener runs in another process)"))
    broker = checks.get("broker", {"ok": None, "detail": "not checked"})
    depth = observer.broker.get().messages
    out.append(Card("broker", "Task broker", _state(broker["ok"]),
                     broker["detail"] + (f"; {depth} task(s) queued" if depth is not None else "")))
    database = checks.get("database", {"ok": None, "detail": "not checked"})
    out.append(Card("database", "Database", _state(database["ok"]),
                    f"{database['detail']}; figures computed in {took * 1000:.1f} ms"))
    state, text = waiting(snap.custody_pending, snap.oldest_custody_seconds, "message(s) waiting to be sealed "
                           "and stripped", CUSTODY_LATE)
    out.append(Card("custody", "Custody queue", state, text, figure=str(snap.custody_pending)))
    state, text = waiting(snap.notify_pending, snap.oldest_notify_seconds, "notification(s) waiting to be sent",
                           NOTIFY_LATE)
    out.append(Card("notify", "Notification queue", state, text, figure=str(snap.notify_pending)))
    letters = sum(snap.dead_letters_open.values())
    out.append(Card("dead-letters", "Dead letters", _state(letters == 0), "parked item(s) to look at"
                    + (f", {snap.notifications_failed} of them failed notifications" if snap.notifications_failed
                       else ""), figure=str(letters),
                    command="voicemail notifications list --failed" if snap.notifications_failed else None))
    if runtime is None:
        out.append(Card("reconcile", "Last reconciliation", "unknown", "not known here: the AMI listener runs in "
                        "another process (voicemail run)"))
    else:
        last = runtime.last_reconciled_at()
        age = None if last is None else max(0.0, snap.taken_at.timestamp() - last)
        out.append(Card("reconcile", "Last reconciliation", _state(age is not None and age < RECONCILE_LATE),
                        f"{ago(age)}; {runtime.reconciliations()} pass(es) since start"))
    quota = st.quota_site_bytes
    used = f"{size(snap.vault_bytes)} of sealed audio"
    out.append(Card("vault", "Vault", _state(not quota or snap.vault_bytes < QUOTA_FULL * quota),
                    f"{used} of a {size(quota)} quota ({100 * snap.vault_bytes / quota:.1f} %)" if quota
                    else f"{used}; no quota set"))
    age = snap.checkpoint_age
    if st.checkpoint_interval <= 0:
        out.append(Card("checkpoint", "Audit checkpoint", _state(None) if age is None else "ok",
                        f"last signed {ago(age)}; no schedule (audit_checkpoint_interval = 0)"))
    elif age is None:
        out.append(Card("checkpoint", "Audit checkpoint", "attention", "no checkpoint signed yet; voicemail beat "
                        "signs one every audit_checkpoint_interval", command="voicemail audit checkpoint"))
    else:
        out.append(Card("checkpoint", "Audit checkpoint", _state(age <= 2 * st.checkpoint_interval),
                        f"last signed {ago(age)}"))
    return out


class Titled(Protocol):
    """A card of the page: the status cards, and with several sites each site's card."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def state(self) -> str: ...


def summary(all_cards: Sequence[Titled]) -> tuple[str, list[Titled]]:
    """("ok" | "attention", the cards needing attention)."""
    attention = [c for c in all_cards if c.state == "attention"]
    return ("attention" if attention else "ok"), attention


def page_context(observer: Observer, snap: Snapshot, took: float, checks: dict[str, dict[str, Any]],
                 sites: Sequence[Titled] = ()) -> dict[str, Any]:
    """``sites``: each site's card (several sites; voicemail.web.operations_sites), named in the summary
    too when it needs attention."""
    hours = observer.last_day()
    labels = [h.start.strftime("%H:%M") for h in hours]
    all_cards = cards(observer, snap, took, checks)
    overall, attention = summary([*all_cards, *sites])
    return {
        "snap": snap, "cards": all_cards, "overall": overall, "attention": attention, "sites": sites,
        "unknown": [c for c in all_cards if c.state == "unknown"],
        "hours": hours, "generated": snap.taken_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "per_hour": bar_chart([[h.messages for h in hours]], labels),
        "latency": bar_chart([[h.p95 for h in hours], [h.p50 for h in hours]], labels, unit="s"),
        "seconds_text": seconds_text,
    }
