"""A site for the mailbox services: the stand-in Asterisk, a database, the real container
(voicemail.app.build_container) and real sealed messages made by the custody pipeline in-process."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.pipeline.harness import MAILBOXES, Site, wait_for
from voicemail.ami.blocking import BlockingAmi
from voicemail.ami.parser import AmiMessage
from voicemail.app import Container, build_container
from voicemail.audit.access import Actor
from voicemail.audit.service import Investigations
from voicemail.domain.mailbox import MailboxService, Viewer
from voicemail.domain.models import MailboxRef
from voicemail.services.mailbox import MailboxServices
from voicemail.standin import StandinConfig, StandinThread

ALICE_BOX = MailboxRef("default", "1001")
BOB_BOX = MailboxRef("default", "1002")
ALICE = Viewer("alice", frozenset({"owner"}), (ALICE_BOX,), "192.0.2.10", numbers=("1001",))
BOB = Viewer("bob", frozenset({"owner"}), (BOB_BOX,), "192.0.2.11", numbers=("1002",))
ADMIN = Viewer("root-admin", frozenset({"administrator"}), (), "192.0.2.12")
INVESTIGATOR = Actor("ivy", "cli@test")
ROOT = Actor("root-admin", "cli@test")


@dataclass
class MailboxSite:
    site: Site
    container: Container
    events: list[AmiMessage] = field(default_factory=list)
    watcher: BlockingAmi | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def standin(self) -> StandinThread:
        assert self.site.standin is not None
        return self.site.standin

    @property
    def mailboxes(self) -> MailboxService:
        assert self.container.mailboxes is not None
        return self.container.mailboxes

    @property
    def services(self) -> MailboxServices:
        assert isinstance(self.container.mailboxes, MailboxServices)
        return self.container.mailboxes

    def leave(self, mailbox: str, audio: bytes, callerid: str | None = '"Alice Internal" <1001>',
              context: str = "vm-internal", urgent: bool = False) -> str:
        """Leave a message on the stand-in, discover it and take custody (sealed and stripped)."""
        msg_id = self.standin.leave_message(mailbox, callerid, caller_context=context, audio=audio, urgent=urgent)
        assert msg_id is not None
        ref = MailboxRef.parse(mailbox)
        self.container.discovery.scan(ref)
        record = self.container.store.find(ref, msg_id)
        assert record is not None
        self.container.custody.take_custody(record.id)
        return record.id

    def start_watching(self) -> None:
        def collect(msg: AmiMessage) -> None:
            with self._lock:
                self.events.append(msg)

        s = self.site
        self.watcher = BlockingAmi("127.0.0.1", s.port, "voicemail", s.secret)
        self.watcher.client.subscribe(collect)
        self.watcher.wait_connected(10)

    def seen(self, event: str, **headers: str) -> list[AmiMessage]:
        with self._lock:
            return [e for e in self.events if e.event == event
                    and all(e.get(k) == v for k, v in headers.items())]

    def investigations(self) -> Investigations:
        inv = Investigations(self.container.engine)
        if "administrator" not in inv.access.roles_of(ROOT.name):
            inv.access.grant(ROOT, ROOT.name, "administrator", "bootstrap")
            inv.access.grant(ROOT, INVESTIGATOR.name, "investigator", "test setup")
            inv.access.open_case(INVESTIGATOR, "CI-2026-0142", "Office of Inspector General", "fraud")
        return inv

    def hold(self, message_id: str) -> None:
        self.investigations().holds.place(INVESTIGATOR, "CI-2026-0142", "message", message_ids=[message_id],
                                          reason="evidence")

    def audit(self, message_id: str) -> list[tuple[str, str, str, dict[str, object]]]:
        inv = Investigations(self.container.engine)
        return [(e.actor, e.action, e.outcome, json.loads(e.details)) for e in inv.audit.events(message_id=message_id)]

    def spool_files(self, mailbox: str) -> list[Path]:
        ref = MailboxRef.parse(mailbox)
        return sorted(p for p in (self.site.spool / ref.context / ref.mailbox).rglob("msg*"))


@contextmanager
def mailbox_site(root: Path, database_url: str, *, formats: tuple[str, ...] = ("wav",),
                 standin: dict[str, Any] | None = None, **settings: Any) -> Iterator[MailboxSite]:
    """``standin``: more StandinConfig fields (e.g. timing, callers for the phone menu); ``settings``: Settings
    fields to override, with values of their own types (e.g. phone_ring_timeout=5.0)."""
    site = Site(root, database_url=database_url)
    site.prepare()
    site.standin = StandinThread(StandinConfig(spool_dir=site.spool, username="voicemail", secret=site.secret,
                                               mailboxes=MAILBOXES, formats=formats, **(standin or {})))
    site.port = site.standin.start()
    ext = {"wav": "wav", "wav49": "WAV"}
    from dataclasses import replace

    configured = replace(site.settings(), spool_formats=tuple(ext[f] for f in formats),
                         phone_staging_dir=str(root / "staging"), **settings)
    container = build_container(configured, lambda _mid: None)
    box = MailboxSite(site, container)
    try:
        yield box
    finally:
        if box.watcher is not None:
            box.watcher.close()
        container.close()
        site.stop_all()


def wait(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    wait_for(predicate, timeout, what)


def now() -> float:
    return time.time()
