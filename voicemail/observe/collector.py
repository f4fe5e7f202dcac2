"""Prometheus collectors: the pipeline's figures from the database, the serving process's AMI state.

Counters computed from the database (``*_total``) count rows that never go away (a destroyed message
stays as a tombstone), so they only grow and ``rate()`` works on them whichever process is scraped.
The custody latency histograms are gauge histograms over a sliding window of recent messages
(setting metrics_latency_window): use ``histogram_quantile()`` on them directly, not over ``rate()``.
No label carries a mailbox, a caller or a message id.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy.engine import Engine

from voicemail.observe.broker import QueueDepth, queue_depth
from voicemail.observe.runtime import RuntimeStatus
from voicemail.observe.snapshot import MessageFigures, Snapshot, read_snapshot

log = logging.getLogger(__name__)
LATENCY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
MESSAGE_STATES = ("discovered", "sealed", "stripped", "vanished", "shredding", "destroyed")
NOTIFICATION_STATES = ("pending", "sending", "sent", "failed")
TASKS = ("workers.tasks.seal_message", "workers.tasks.strip_message", "workers.tasks.send_notification")


@dataclass(frozen=True)
class ObserveSettings:
    cache_seconds: float = 10.0
    latency_window: float = 3600.0
    mailer: str = "outbox"
    quota_site_bytes: int = 0
    checkpoint_interval: float = 3600.0
    broker_url: str = ""
    queue: str = "voicemail"
    # several sites: every configured site's name; the per-message metrics then carry a ``site`` label.
    # Empty (one site): no site label, the metrics as they were.
    sites: tuple[str, ...] = ()
    served_site: str = ""  # several sites: the site this process serves (the listener metrics' ``site``)


class SnapshotCache:
    """One database snapshot per ``cache_seconds``, shared by /metrics and the operations page."""

    def __init__(self, engine: Engine, settings: ObserveSettings,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._engine, self._settings, self._clock = engine, settings, clock
        self._lock = threading.Lock()
        self._value: tuple[float, Snapshot, float] | None = None  # (monotonic time, snapshot, seconds it took)

    def get(self) -> tuple[Snapshot, float]:
        with self._lock:
            if self._value is None or time.monotonic() - self._value[0] >= self._settings.cache_seconds:
                started = time.perf_counter()
                snap = read_snapshot(self._engine, now=self._clock(), window=self._settings.latency_window,
                                     per_site=bool(self._settings.sites))
                self._value = (time.monotonic(), snap, time.perf_counter() - started)
            return self._value[1], self._value[2]


class BrokerCache:
    def __init__(self, settings: ObserveSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._value: tuple[float, QueueDepth] | None = None

    def get(self) -> QueueDepth:
        with self._lock:
            if self._value is None or time.monotonic() - self._value[0] >= self._settings.cache_seconds:
                self._value = (time.monotonic(), queue_depth(self._settings.broker_url, self._settings.queue))
            return self._value[1]


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _labelled(family: GaugeMetricFamily | CounterMetricFamily, label_values: Iterable[tuple[str, float]]
              ) -> GaugeMetricFamily | CounterMetricFamily:
    for label, value in label_values:
        family.add_metric([label], value)
    return family


def _buckets(values: Sequence[float]) -> list[tuple[str, float]]:
    buckets = [(str(bound), float(sum(1 for v in values if v <= bound))) for bound in LATENCY_BUCKETS]
    buckets.append(("+Inf", float(len(values))))
    return buckets


def histogram(name: str, doc: str, values: Sequence[float]) -> GaugeHistogramMetricFamily:
    return GaugeHistogramMetricFamily(name, doc, buckets=_buckets(values), gsum_value=float(sum(values)))


class DatabaseCollector(Collector):
    def __init__(self, snapshots: SnapshotCache, broker: BrokerCache, settings: ObserveSettings) -> None:
        self._snapshots, self._broker, self._settings = snapshots, broker, settings

    def collect(self) -> Iterator[Metric]:
        try:
            s, took = self._snapshots.get()
        except Exception as exc:  # the database is down: say so, and let the other collectors answer
            log.warning("metrics: the database figures could not be read (%s)", type(exc).__name__)
            yield _gauge("voicemail_database_up", "The database answered the metrics queries.", 0.0)
            return
        yield _gauge("voicemail_database_up", "The database answered the metrics queries.", 1.0)
        st = self._settings
        groups = self._groups(s)
        yield from _per_message_counts(groups)
        failed = CounterMetricFamily("voicemail_failed", "Work items ever parked as dead letters (custody: seal / "
                                     "strip; notification: send).", labels=["kind"])
        by_kind = {"custody": 0, "notification": 0}
        for task, n in s.dead_letters_total.items():
            by_kind["notification" if task.endswith("send_notification") else "custody"] += n
        yield _labelled(failed, sorted(by_kind.items()))
        yield _labelled(GaugeMetricFamily("voicemail_dead_letters", "Dead letters not resolved yet, by task.",
                                          labels=["task"]),
                        [(t, s.dead_letters_open.get(t, 0)) for t in sorted(set(TASKS) | set(s.dead_letters_open))])
        yield _labelled(GaugeMetricFamily("voicemail_notification_failures", "Notifications failed or parked and "
                                          "not resolved, by mail backend.", labels=["backend"]),
                        [(st.mailer, s.notifications_failed)])
        yield from _per_message_work(groups)
        yield _gauge("voicemail_pending_moves", "Folder moves decided on the phone that Asterisk has not "
                     "confirmed yet.", s.pending_moves)
        yield _gauge("voicemail_pending_moves_failing", "Of those, the moves whose last attempt failed (AMI down, "
                     "not confirmed); retried until done.", s.pending_moves_failing)
        yield _gauge("voicemail_latency_window_seconds", "Length of the latency window.", st.latency_window)
        yield _gauge("voicemail_vault_bytes", "Bytes of sealed audio held (plaintext size of the recordings on "
                     "record).", s.vault_bytes)
        yield _gauge("voicemail_vault_quota_bytes", "Site quota of the vault (0 = none).", st.quota_site_bytes)
        if s.checkpoint_age is not None:
            yield _gauge("voicemail_audit_checkpoint_age_seconds", "Seconds since the last signed audit checkpoint.",
                         s.checkpoint_age)
        yield _gauge("voicemail_audit_checkpoint_interval_seconds", "Scheduled checkpoint interval (0 = none).",
                     st.checkpoint_interval)
        depth = self._broker.get()
        yield _gauge("voicemail_broker_up", "The Celery broker answered (1 with the embedded transport).",
                     1.0 if depth.reachable else 0.0)
        if depth.messages is not None:
            yield _gauge("voicemail_broker_queue_messages", "Tasks waiting in the Celery queue on the broker.",
                         depth.messages)
        yield _gauge("voicemail_metrics_query_seconds", "Seconds the database figures took to compute.", took)


    def _groups(self, s: Snapshot) -> list[tuple[list[str], MessageFigures]]:
        """The per-message figures and their site label values: the whole snapshot unlabelled with one
        site; each configured site (zeros for one without messages yet) with several."""
        if not self._settings.sites:
            return [([], s)]
        names = sorted(set(self._settings.sites) | set(s.sites))
        return [([name], s.sites.get(name, MessageFigures())) for name in names]


def _site_labels(groups: list[tuple[list[str], MessageFigures]]) -> list[str]:
    return ["site"] if groups and groups[0][0] else []


def _per_message_counts(groups: list[tuple[list[str], MessageFigures]]) -> Iterator[Metric]:
    """Messages and notifications by state, and the all-time counters (``site`` label with several sites)."""
    site = _site_labels(groups)
    states = GaugeMetricFamily("voicemail_messages", "Messages by custody state.", labels=["state", *site])
    for labels, f in groups:
        for k in sorted(set(MESSAGE_STATES) | set(f.messages_by_state)):
            states.add_metric([k, *labels], f.messages_by_state.get(k, 0))
    yield states
    for name, doc, value in (
            ("voicemail_messages_discovered", "Messages ever discovered in the spool.", "discovered_total"),
            ("voicemail_messages_sealed", "Messages ever sealed into the vault and verified.", "sealed_total"),
            ("voicemail_messages_stripped", "Messages whose spool audio was replaced by a placeholder.",
             "stripped_total")):
        counter = CounterMetricFamily(name, doc, labels=site)
        for labels, f in groups:
            counter.add_metric(labels, getattr(f, value))
        yield counter
    sent = CounterMetricFamily("voicemail_notifications_sent", "Notifications ever sent (notified messages).",
                               labels=site)
    notes = GaugeMetricFamily("voicemail_notifications", "Notifications by state.", labels=["state", *site])
    for labels, f in groups:
        sent.add_metric(labels, f.notifications_by_state.get("sent", 0))
        for k in sorted(set(NOTIFICATION_STATES) | set(f.notifications_by_state)):
            notes.add_metric([k, *labels], f.notifications_by_state.get(k, 0))
    yield sent
    yield notes


def _per_message_work(groups: list[tuple[list[str], MessageFigures]]) -> Iterator[Metric]:
    """Work not done yet, its age, and the custody latency histograms (``site`` label with several sites)."""
    site = _site_labels(groups)
    depth = GaugeMetricFamily("voicemail_queue_depth", "Work not done yet: messages not stripped, notifications "
                              "not sent.", labels=["queue", *site])
    oldest = GaugeMetricFamily("voicemail_oldest_pending_seconds", "Age of the oldest work not done yet (0 = "
                               "none).", labels=["queue", *site])
    for labels, f in groups:
        depth.add_metric(["custody", *labels], f.custody_pending)
        depth.add_metric(["notification", *labels], f.notify_pending)
        oldest.add_metric(["custody", *labels], f.oldest_custody_seconds)
        oldest.add_metric(["notification", *labels], f.oldest_notify_seconds)
    yield depth
    yield oldest
    for name, doc, part in (
            ("voicemail_custody_seal_seconds", "Discovery to verified seal, messages sealed in the latency window.",
             "seal"),
            ("voicemail_custody_notify_seconds", "Seal to notification sent, notifications sent in the latency "
             "window.", "notify"),
            ("voicemail_custody_total_seconds", "Discovery to notification sent, notifications sent in the "
             "latency window.", "total")):
        family = GaugeHistogramMetricFamily(name, doc, labels=site)
        for labels, f in groups:
            values: Sequence[float] = getattr(f.window, part)
            family.add_metric(labels, _buckets(values), gsum_value=float(sum(values)))
        yield family


class RuntimeCollector(Collector):
    """The AMI listener of this process (`voicemail run` only). ``site``: its site's name, a label of each
    figure when several sites are configured (empty: no label)."""

    def __init__(self, runtime: RuntimeStatus, site: str = "") -> None:
        self._runtime = runtime
        self._labels = (["site"], [site]) if site else ([], [])

    def _gauge(self, name: str, doc: str, value: float) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, labels=self._labels[0])
        family.add_metric(self._labels[1], value)
        return family

    def _counter(self, name: str, doc: str, value: float) -> CounterMetricFamily:
        family = CounterMetricFamily(name, doc, labels=self._labels[0])
        family.add_metric(self._labels[1], value)
        return family

    def collect(self) -> Iterator[Metric]:
        r = self._runtime
        yield self._gauge("voicemail_ami_connected", "1 while the listener is logged in to Asterisk's AMI.",
                          1.0 if r.ami_connected() else 0.0)
        yield self._counter("voicemail_ami_reconnects", "AMI logins after the first (reconnects).",
                            max(0, r.ami_connects() - 1))
        yield self._counter("voicemail_reconciliations", "Completed full reconciliation passes.", r.reconciliations())
        yield self._gauge("voicemail_listener_lease_held", "1 while this process holds its site's listener lease "
                          "(it listens to AMI); 0 on a stand-by.", 1.0 if r.listener_lease_held() else 0.0)
        last = r.last_reconciled_at()
        if last is not None:
            yield self._gauge("voicemail_last_reconciliation_timestamp_seconds", "When the last reconciliation "
                              "finished (epoch seconds).", last)


def build_registry(snapshots: SnapshotCache, broker: BrokerCache, settings: ObserveSettings,
                   runtime: RuntimeStatus | None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(snapshots, broker, settings))
    if runtime is not None:
        registry.register(RuntimeCollector(runtime, settings.served_site))
    ProcessCollector(registry=registry)
    return registry
