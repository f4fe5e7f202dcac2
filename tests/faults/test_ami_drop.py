"""AMI drop: the stand-in closes the connection while messages arrive; the listener reconnects and
its reconciliation pass picks up every message, including those whose events were never seen."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.pipeline.harness import CALLERS, Site, make_wav, sha256, wait_async
from voicemail.service import build_service

pytestmark = [pytest.mark.slow]


def test_messages_left_while_disconnected_are_found_after_reconnect(tmp_path: Path) -> None:
    site = Site(tmp_path / "site", database_url=f"sqlite:///{tmp_path / 'site' / 'vm.db'}")
    site.prepare()
    site.start_standin()
    standin = site.standin
    assert standin is not None

    async def scenario() -> None:
        service = build_service(site.settings())
        stop = asyncio.Event()
        runner = asyncio.create_task(service.run(stop))
        try:
            await asyncio.wait_for(service.client.wait_connected(), 15)
            left = []
            for i in range(2):
                audio = make_wav(0.5, seed=200 + i)
                left.append((await asyncio.to_thread(standin.leave_message, "2001@default", CALLERS[i][0],
                                                     caller_context=CALLERS[i][1], audio=audio), audio))
            reconciliations = service.listener.reconciliations
            await asyncio.to_thread(standin.drop_connections)
            # these arrive while nobody is logged in: their MessageWaiting events go nowhere
            for i in range(2, 5):
                audio = make_wav(0.5, seed=200 + i)
                left.append((await asyncio.to_thread(standin.leave_message, "2001@default",
                                                     CALLERS[i % 3][0], caller_context=CALLERS[i % 3][1],
                                                     audio=audio), audio))
            assert [msg_id for msg_id, _ in left if msg_id is None] == [], "the stand-in recorded every message"
            await wait_async(lambda: site.sent() >= 5, 60, "all five notifications")
            assert service.listener.reconciliations > reconciliations  # a pass ran after the reconnect
            for msg_id, audio in left:
                assert msg_id is not None
                assert sha256(site.open_sealed("2001@default", msg_id)) == sha256(audio)
        finally:
            stop.set()
            await runner
            await service.close()

    try:
        asyncio.run(scenario())
        assert site.plaintext_left() == []
        assert len(site.emls()) == 5
    finally:
        site.stop_all()
