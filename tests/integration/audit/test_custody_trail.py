"""The chain of custody is in the audit trail itself: discovered, sealed (with the SHA-256 of each
recording), stripped, notified and exported, each once per message however often a step is retried,
written in the same transaction as the state change it records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.mailbox.harness import INVESTIGATOR, ROOT, MailboxSite, mailbox_site
from tests.integration.pipeline.harness import make_wav
from voicemail.audit.access import Actor
from voicemail.audit.chain import ChainedEvent
from voicemail.audit.signing import SigningKey
from voicemail.audit.tables import audit_events
from voicemail.db.models import MessageRow

CUSTODY = ("custody.discovered", "custody.sealed", "custody.stripped", "custody.notified")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def box(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MailboxSite]:
    sqlite = f"sqlite:///{tmp_path / 'db.sqlite'}"
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else sqlite
    with mailbox_site(tmp_path, url) as site:
        yield site


def trail(box: MailboxSite, message_id: str) -> list[ChainedEvent]:
    return [e for e in box.investigations().audit.events(message_id=message_id) if e.action.startswith("custody.")]


def test_the_audit_trail_shows_each_custody_step_once_with_the_hashes(box: MailboxSite) -> None:
    audio = make_wav(1.0, 21)
    mid = box.leave("1001@default", audio)
    record = box.container.store.get(mid)
    notification = box.container.store.notification_for(mid)
    assert notification is not None
    assert box.container.notifier.send(notification[0]) == "sent"
    # every step retried: a re-delivered task must not write a second record of the same step
    box.container.discovery.scan(record.mailbox)
    assert box.container.custody.seal(mid) == "already"
    box.container.custody.take_custody(mid)
    box.container.custody.strip(mid)
    assert box.container.notifier.send(notification[0]) == "already"
    events = trail(box, mid)
    assert [e.action for e in events] == list(CUSTODY)
    assert all(e.outcome == "ok" and e.source for e in events)
    sealed = json.loads(events[1].details)
    assert {r["fmt"]: r["sha256"] for r in sealed["recordings"]} == {r.fmt: r.sha256 for r in record.recordings}
    assert record.wrapped_key is not None and sealed["kek_id"] == record.wrapped_key.kek_id
    assert json.loads(events[3].details)["notification"] == notification[0]
    discovered = json.loads(events[0].details)  # the Asterisk it was left on, named even with one site
    assert (discovered["site"], discovered["mailbox"]) == (box.container.settings.site_name, "1001@default")
    # nothing of the caller is in the trail (the number and name are in the message row only)
    text = "".join(e.details + e.reason for e in events)
    assert "Alice Internal" not in text and "<1001>" not in text
    # the recorded time of each step is the state change's own order
    assert [e.seq for e in events] == sorted(e.seq for e in events)


def test_an_export_completes_the_chain_of_custody_from_recording_to_evidence(box: MailboxSite, tmp_path: Path) -> None:
    mid = box.leave("1001@default", make_wav(1.0, 22))
    inv = box.investigations()
    inv.access.grant(ROOT, "carl", "cleared_admin", "test setup")
    req = inv.request_evidence(INVESTIGATOR, "CI-2026-0142", "REQ-9", [mid], box.container.store, "fraud")
    inv.releases.approve(Actor("carl", "cli@test"), req.id)
    key = SigningKey.create(tmp_path / "sign.pem")
    inv.export_evidence(INVESTIGATOR, req.id, tmp_path / "pkg", store=box.container.store,
                        vault=box.container.vault, keyring=box.container.keyring, key=key)
    actions = [e.action for e in inv.audit.events(message_id=mid)]
    assert [a for a in actions if a.startswith("custody.") or a == "evidence.export"] == [
        "custody.discovered", "custody.sealed", "custody.stripped", "evidence.export"]
    custody_log = (tmp_path / "pkg" / "messages" / mid / "custody.jsonl").read_text()
    assert "custody.sealed" in custody_log  # the package carries it too
    manifest = json.loads((tmp_path / "pkg" / "manifest.json").read_text())
    assert [(m["message_id"], m["site"], m["mailbox"]) for m in manifest["messages"]] == [
        (mid, box.container.settings.site_name, "1001@default")]


def test_a_seal_that_does_not_commit_leaves_no_sealed_record(box: MailboxSite) -> None:
    """The audit write is in the state change's transaction: a lost race writes nothing."""
    mid = box.leave("1001@default", make_wav(1.0, 23))
    record = box.container.store.get(mid)
    assert record.wrapped_key is not None
    assert box.container.store.mark_sealed(mid, record.wrapped_key, list(record.recordings)) is False
    with box.container.engine.connect() as conn:
        sealed = conn.execute(select(audit_events.c.seq).where(audit_events.c.message_id == mid,
                                                               audit_events.c.action == "custody.sealed")).all()
        state = conn.execute(select(MessageRow.state).where(MessageRow.id == mid)).scalar()
    assert len(sealed) == 1 and state == "stripped"
