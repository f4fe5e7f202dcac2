"""The audit events of crypto-shredding (``message.shred``) and of a forwarded copy that never arrived
(``custody.forward_dropped``) name the mailbox as the other events do: ``1001@default`` on the default site,
``1001@default@branch`` on another one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.lifecycle.support import Site, seed
from voicemail.app import Container
from voicemail.audit.chain import AuditEvent
from voicemail.audit.store import AuditLog
from voicemail.domain.models import MailboxRef, SpoolMessage
from voicemail.services.forward_arrivals import ForwardArrivals


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Container]:
    c = Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}").container()
    try:
        yield c
    finally:
        c.close()


def shred_mailboxes(c: Container, message_id: str) -> list[tuple[str, object]]:
    return [(str(json.loads(e.details)["step"]), json.loads(e.details)["mailbox"])
            for e in AuditLog(c.engine).events(message_id=message_id) if e.action == "message.shred"]


@pytest.mark.parametrize(("site_name", "named"), [("default", "1001@default"), ("branch", "1001@default@branch")])
def test_each_shred_step_names_the_mailbox_with_its_site_unless_it_is_the_default_one(
        site: Container, site_name: str, named: str) -> None:
    assert site.shredder is not None
    mid, _audio = seed(site, age_days=800, site=site_name)
    assert site.shredder.shred(mid, actor="retention", source="test", reason="expired") == "destroyed"
    assert shred_mailboxes(site, mid) == [("key", named), ("blobs", named), ("row", named)]


class StaleRows:
    """One forwarded copy still on its way, whose placeholder never reached the recipient's spool."""

    def __init__(self, mailbox: MailboxRef) -> None:
        self.mailbox = mailbox
        self.discarded: list[str] = []

    def stale(self, older_than_seconds: float) -> list[tuple[str, MailboxRef, str]]:
        return [] if self.discarded else [("copy-1", self.mailbox, "1796324700-00000001")]

    def discard(self, message_id: str) -> list[str]:
        self.discarded.append(message_id)
        return [f"{message_id}.wav.a1"]


class NoSpool:
    def find(self, mailbox: MailboxRef, msg_id: str, hint: tuple[str, int] | None = None) -> SpoolMessage | None:
        return None


class Vault:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete(self, name: str) -> None:
        self.deleted.append(name)


class Audit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def append(self, event: AuditEvent) -> None:
        self.events.append(event)


@pytest.mark.parametrize(("mailbox", "named"), [(MailboxRef("default", "1001"), "1001@default"),
                                                (MailboxRef("default", "1001", "branch"), "1001@default@branch")])
def test_a_dropped_forward_copy_names_the_recipient_mailbox_with_its_site_unless_it_is_the_default_one(
        mailbox: MailboxRef, named: str) -> None:
    rows, vault, audit = StaleRows(mailbox), Vault(), Audit()
    assert ForwardArrivals(rows, NoSpool(), vault, audit).settle_stale(0) == 1  # type: ignore[arg-type]
    assert rows.discarded == ["copy-1"] and vault.deleted == ["copy-1.wav.a1"]
    assert [(e.action, e.message_id, dict(e.details)) for e in audit.events] == [
        ("custody.forward_dropped", "copy-1", {"mailbox": named})]
