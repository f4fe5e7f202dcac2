"""The operations page's part for several sites: a card per site (its listener, its queues, dead letters,
pending phone moves, vault share and messages by state) and each site's all-time totals beside the
installation's. With one site there is nothing here: the page is the installation's alone."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from voicemail.db.listener_lease import LeaseHolder, LeaseStore
from voicemail.observe.collector import MESSAGE_STATES
from voicemail.observe.observer import Observer
from voicemail.observe.snapshot import MessageFigures, Snapshot
from voicemail.web.operations_view import CUSTODY_LATE, NOTIFY_LATE, ago, size, waiting

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SiteRow:
    key: str  # names the row in the page (data-testid)
    label: str
    state: str  # ok | attention | unknown
    text: str


@dataclass(frozen=True)
class SiteCard:
    name: str
    state: str  # attention when a row needs it, else ok
    rows: tuple[SiteRow, ...]
    figures: MessageFigures

    @property
    def id(self) -> str:  # the summary links to #card-<id>, as to the other cards
        return f"site-{self.name}"

    @property
    def title(self) -> str:
        return f"Site {self.name}"


def read_leases(engine: Engine) -> dict[str, LeaseHolder] | None:
    """Each site's listener lease (one small table, read per page view); None when it cannot be read."""
    try:
        return LeaseStore(engine).holders()
    except Exception as exc:
        log.warning("operations page: the listener leases could not be read (%s)", type(exc).__name__)
        return None


def _listener(observer: Observer, name: str, leases: dict[str, LeaseHolder] | None) -> SiteRow:
    if leases is None:
        return SiteRow("listener", "Listener", "unknown", "not known: the listener leases could not be read")
    holder = leases.get(name)
    if holder is None:
        row = SiteRow("listener", "Listener", "attention", "no `voicemail run` has listened to it yet")
    elif holder.seconds_left > 0:
        row = SiteRow("listener", "Listener", "ok", f"{holder.holder} listens (fencing token {holder.token}, "
                      f"{holder.seconds_left:.0f} s left on the lease)")
    else:
        row = SiteRow("listener", "Listener", "attention", f"nobody listens: the lease of {holder.holder} "
                      f"lapsed {ago(-holder.seconds_left)}")
    runtime = observer.runtime
    if runtime is not None and name == observer.settings.served_site:
        here = "; this process" if runtime.listener_lease_held() else "; this process is its stand-by"
        row = SiteRow(row.key, row.label, row.state, row.text + here)
    return row


def _rows(observer: Observer, name: str, f: MessageFigures, leases: dict[str, LeaseHolder] | None
          ) -> tuple[SiteRow, ...]:
    custody = waiting(f.custody_pending, f.oldest_custody_seconds, "waiting to be sealed and stripped",
                      CUSTODY_LATE)
    notify = waiting(f.notify_pending, f.oldest_notify_seconds, "waiting to be sent", NOTIFY_LATE)
    letters = sum(f.dead_letters_open.values())
    quota = observer.settings.quota_site_bytes
    states = [f"{f.messages_by_state[s]} {s}" for s in
              (*MESSAGE_STATES, *sorted(set(f.messages_by_state) - set(MESSAGE_STATES))) if f.messages_by_state.get(s)]
    return (
        _listener(observer, name, leases),
        SiteRow("custody", "Custody queue", custody[0], f"{f.custody_pending} {custody[1]}"),
        SiteRow("notify", "Notifications", notify[0], f"{f.notify_pending} {notify[1]}"
                + (f"; {f.notifications_failed} failed or parked" if f.notifications_failed else "")),
        SiteRow("dead-letters", "Dead letters", "ok" if not letters else "attention",
                f"{letters} parked item(s) to look at"),
        SiteRow("moves", "Phone moves", "attention" if f.pending_moves_failing else "ok",
                f"{f.pending_moves} waiting for Asterisk to confirm"
                + (f", {f.pending_moves_failing} of them failing (retried until done)" if f.pending_moves_failing
                   else "")),
        SiteRow("vault", "Vault", "ok", f"{size(f.vault_bytes)} of sealed audio"
                + (f" ({100 * f.vault_bytes / quota:.1f} % of the installation's {size(quota)} quota)" if quota
                   else "")),
        SiteRow("messages", "Messages", "ok", ", ".join(states) if states else "none yet"),
    )


def site_cards(observer: Observer, snap: Snapshot, leases: dict[str, LeaseHolder] | None) -> list[SiteCard]:
    """A card per site, in the configured order (a site with messages but no longer configured last);
    none with one site."""
    configured = observer.settings.sites
    if not configured:
        return []
    names = [*configured, *sorted(set(snap.sites) - set(configured))]
    cards = []
    for name in names:
        figures = snap.sites.get(name, MessageFigures())
        rows = _rows(observer, name, figures, leases)
        state = "attention" if any(r.state == "attention" for r in rows) else "ok"
        cards.append(SiteCard(name, state, rows, figures))
    return cards
