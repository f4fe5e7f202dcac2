"""The listener after a database outage: a mailbox whose scan failed is scanned again on its own, with
backoff, as soon as the database answers, without a new event or the next reconciliation. Real
PostgreSQL behind a proxy that cuts every connection (the outage), a real spool and discovery."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import pytest

from tests.conftest import fresh_pg_database
from tests.faults.services import TcpProxy
from voicemail.ami.listener import Listener
from voicemail.ami.parser import AmiMessage
from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.migrate import upgrade
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.models import Caller, MailboxRef
from voicemail.services.discovery import Discovery
from voicemail.spool import FileSpool

pytestmark = pytest.mark.postgres
BOX = MailboxRef("default", "1001")


def test_a_scan_that_failed_during_an_outage_is_retried_when_the_database_is_back(
        tmp_path: Path, captures: Path, caplog: pytest.LogCaptureFixture) -> None:
    inbox = tmp_path / "spool" / "default" / "1001" / "INBOX"
    inbox.mkdir(parents=True)
    shutil.copyfile(captures / "msg0000.txt", inbox / "msg0000.txt")
    shutil.copyfile(captures / "msg0000.wav", inbox / "msg0000.wav")
    with fresh_pg_database() as url:
        direct = make_engine(url)
        upgrade(direct)
        direct.dispose()
        host_port = url.split("@", 1)[1].split("/", 1)[0]
        proxy = TcpProxy(int(host_port.rsplit(":", 1)[1]))
        engine = make_engine(url.replace(host_port, f"127.0.0.1:{proxy.port}"))
        store = SqlMessageStore(make_sessionmaker(engine))
        found: list[str] = []
        discovery = Discovery(FileSpool(tmp_path / "spool", grace_seconds=0), store,
                              lambda _env: Caller.external(), found.append)
        listener = Listener(None, discovery, lambda _owner: None,  # type: ignore[arg-type]
                            reconcile_interval=3600, retry_first=0.2, retry_max=1.0)

        async def scenario() -> float:
            drain = asyncio.create_task(listener._drain())
            try:
                proxy.cut()  # the database goes away
                listener.on_event(AmiMessage([("Event", "MessageWaiting"), ("Mailbox", str(BOX)),
                                              ("Waiting", "1"), ("New", "1"), ("Old", "0")]))
                await asyncio.sleep(2.0)  # several scans fail meanwhile
                assert found == []
                proxy.restore()  # it is back; no new event arrives
                loop = asyncio.get_running_loop()
                back = loop.time()
                while not found:
                    assert loop.time() - back < 5.0, "the failed scan was not retried"
                    await asyncio.sleep(0.05)
                return loop.time() - back
            finally:
                drain.cancel()

        try:
            with caplog.at_level(logging.WARNING, logger="voicemail.ami.listener"):
                recovered = asyncio.run(scenario())
        finally:
            engine.dispose()
            proxy.close()
    assert len(found) == 1 and recovered < 5.0
    failures = [r for r in caplog.records if "scanning mailboxes failed" in r.getMessage()]
    assert len(failures) == 1  # one line per outage, however many retries
    assert any("scans work again" in r.getMessage() for r in caplog.records)
