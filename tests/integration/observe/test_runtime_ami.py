"""The listener's own figures of `voicemail run` (AMI connection, reconnects, reconciliations), read
through ListenerRuntime while the stand-in Asterisk drops the connection."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.integration.pipeline.harness import Site, wait_async
from voicemail.observe.collector import RuntimeCollector
from voicemail.observe.runtime import ListenerRuntime
from voicemail.service import build_service


def _samples(collector: RuntimeCollector) -> dict[str, float]:
    return {s.name: s.value for family in collector.collect() for s in family.samples}


def test_reconnect_is_counted_and_reconciliation_time_recorded(tmp_path: Path) -> None:
    site = Site(tmp_path / "site", database_url=f"sqlite:///{tmp_path / 'site' / 'vm.db'}")
    site.prepare()
    site.start_standin()
    standin = site.standin
    assert standin is not None

    async def scenario() -> None:
        service = build_service(site.settings())
        runtime = ListenerRuntime(service.client, service.listener)
        collector = RuntimeCollector(runtime)
        stop = asyncio.Event()
        runner = asyncio.create_task(service.run(stop))
        try:
            await asyncio.wait_for(service.client.wait_connected(), 15)
            await wait_async(lambda: runtime.reconciliations() >= 1, 15, "the first reconciliation")
            first = _samples(collector)
            assert first["voicemail_ami_connected"] == 1 and first["voicemail_ami_reconnects_total"] == 0
            assert first["voicemail_reconciliations_total"] == 1
            assert abs(first["voicemail_last_reconciliation_timestamp_seconds"] - time.time()) < 30
            await asyncio.to_thread(standin.drop_connections)
            await wait_async(lambda: runtime.ami_connects() >= 2 and runtime.reconciliations() >= 2, 30,
                             "the reconnect and its reconciliation")
            after = _samples(collector)
            assert after["voicemail_ami_reconnects_total"] == 1 and after["voicemail_ami_connected"] == 1
            assert after["voicemail_reconciliations_total"] == 2
        finally:
            stop.set()
            await asyncio.wait_for(runner, 15)
            await service.close()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 90))
    finally:
        site.stop_all()
