"""One Observer per web app: the snapshot caches, the Prometheus registry and the scrape policy."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client.registry import CollectorRegistry
from sqlalchemy.engine import Engine

from voicemail.config import Settings, serving_site, several_sites, site_names
from voicemail.observe.access import ScrapePolicy
from voicemail.observe.collector import BrokerCache, ObserveSettings, SnapshotCache, build_registry
from voicemail.observe.hourly import Hour, last_day
from voicemail.observe.runtime import RuntimeStatus


def observe_settings(s: Settings) -> ObserveSettings:
    return ObserveSettings(cache_seconds=s.metrics_cache_seconds, latency_window=s.metrics_latency_window,
                           mailer=s.mailer, quota_site_bytes=s.quota_site_bytes,
                           checkpoint_interval=s.audit_checkpoint_interval, broker_url=s.broker_url,
                           sites=site_names(s) if several_sites(s) else (),
                           served_site=serving_site(s) if several_sites(s) else "")


@dataclass
class Observer:
    engine: Engine
    settings: ObserveSettings
    policy: ScrapePolicy
    runtime: RuntimeStatus | None
    snapshots: SnapshotCache
    broker: BrokerCache
    registry: CollectorRegistry
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    _day: tuple[float, list[Hour]] | None = None
    _day_lock: threading.Lock = field(default_factory=threading.Lock)

    def last_day(self) -> list[Hour]:
        """The hourly figures of the last 24 hours (cached like the snapshot)."""
        with self._day_lock:
            if self._day is None or time.monotonic() - self._day[0] >= self.settings.cache_seconds:
                self._day = (time.monotonic(), last_day(self.engine, self.clock()))
            return self._day[1]


def build_observer(engine: Engine, s: Settings, runtime: RuntimeStatus | None = None) -> Observer:
    settings = observe_settings(s)
    snapshots = SnapshotCache(engine, settings)
    broker = BrokerCache(settings)
    return Observer(engine=engine, settings=settings,
                    policy=ScrapePolicy.from_settings(s.metrics_token, s.metrics_allow_from), runtime=runtime,
                    snapshots=snapshots, broker=broker,
                    registry=build_registry(snapshots, broker, settings, runtime))
