"""Forwarding on a site other than the default one, against the Asterisk stand-in as that site's Asterisk:
a message of 1001@default on the branch goes to 1002@default on the branch through the branch's AMI (a
playable copy under its own key, a placeholder in the branch spool; the REST API's answer names the
branch), and a forward to a mailbox of another site is refused with a sentence that names both sites."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.integration.mailbox.harness import MailboxSite
from tests.integration.pipeline.harness import MAILBOXES, Site, make_wav
from tests.integration.web.web_harness import BASE, PASSWORD, sign_in
from voicemail.app import build_container
from voicemail.config import load_settings
from voicemail.domain.errors import Conflict
from voicemail.domain.mailbox import Viewer
from voicemail.domain.models import MailboxRef
from voicemail.spool.placeholder import placeholder_bytes
from voicemail.standin import StandinConfig, StandinThread
from voicemail.web.app import create_app
from voicemail.web.wiring import build_web_deps

AUDIO = make_wav(3.0, seed=43)
ALICE_BRANCH = MailboxRef("default", "1001", "branch")
BOB_BRANCH = MailboxRef("default", "1002", "branch")
ALICE = Viewer("alice-b", frozenset({"owner"}), (ALICE_BRANCH,), "192.0.2.20", numbers=())
BOB = Viewer("bob-b", frozenset({"owner"}), (BOB_BRANCH,), "192.0.2.21", numbers=())


@contextmanager
def branch_site(root: Path) -> Iterator[MailboxSite]:
    """The stand-in is the branch's Asterisk; the default site has no AMI secret on this host."""
    site = Site(root, database_url=f"sqlite:///{root / 'vm.db'}")
    site.prepare()
    site.standin = StandinThread(StandinConfig(spool_dir=site.spool, username="voicemail", secret=site.secret,
                                               mailboxes=MAILBOXES))
    site.port = site.standin.start()
    env = site.env(VOICEMAIL_AMI_SECRET="", VOICEMAIL_AMI_PORT="1", VOICEMAIL_SPOOL_DIR=str(root / "default-spool"),
                   VOICEMAIL_SITES="branch", VOICEMAIL_SITE="branch",
                   VOICEMAIL_SITE_BRANCH_AMI_HOST="127.0.0.1", VOICEMAIL_SITE_BRANCH_AMI_PORT=str(site.port),
                   VOICEMAIL_SITE_BRANCH_AMI_USERNAME="voicemail", VOICEMAIL_SITE_BRANCH_AMI_SECRET=site.secret,
                   VOICEMAIL_SITE_BRANCH_SPOOL_DIR=str(site.spool))
    settings = replace(load_settings(environ=env), spool_formats=("wav",), phone_staging_dir=str(root / "staging"))
    container = build_container(settings, lambda _mid: None)
    try:
        yield MailboxSite(site, container)
    finally:
        container.close()
        site.stop_all()


@pytest.fixture
def box(tmp_path: Path) -> Iterator[MailboxSite]:
    with branch_site(tmp_path / "site") as site:
        yield site


def test_a_message_is_forwarded_within_its_own_non_default_site(box: MailboxSite) -> None:
    original = box.leave("1001@default", AUDIO)
    assert box.container.store.get(original).mailbox == ALICE_BRANCH
    done = box.mailboxes.forward(ALICE, original, "1002", "for you")
    assert done.to == BOB_BRANCH
    copy = box.container.store.get(done.message_id)
    assert copy.mailbox == BOB_BRANCH and copy.state == "stripped"
    assert b"".join(box.mailboxes.audio(BOB, done.message_id, None, "original").chunks) == AUDIO
    spooled = [p.read_bytes() for p in box.spool_files("1002@default") if p.suffix != ".txt"]
    assert spooled == [placeholder_bytes("wav")]  # the branch Asterisk copied the placeholder only
    sent = [d for _, action, outcome, d in box.audit(original) if action == "message.forward" and outcome == "ok"]
    assert [d["to"] for d in sent] == ["1002@default@branch"] and sent[0]["copy"] == done.message_id
    received = [d for _, action, _, d in box.audit(done.message_id) if action == "message.forward.received"]
    assert [d["from_mailbox"] for d in received] == ["1001@default@branch"]


def test_the_api_s_answer_to_a_forward_on_the_branch_names_the_branch(box: MailboxSite) -> None:
    deps = build_web_deps(box.container)
    deps.accounts.add(ALICE.account, roles=("owner",), mailboxes=(ALICE_BRANCH,), numbers=(), password=PASSWORD)
    client = TestClient(create_app(deps), base_url=BASE, raise_server_exceptions=False)
    token = sign_in(client, ALICE.account)
    original = box.leave("1001@default", AUDIO)
    done = client.post(f"/api/v1/messages/{original}/forward", json={"to": "1002", "comment": "for you"},
                       headers={"X-CSRF-Token": token, "Origin": BASE})
    assert done.status_code == 201, done.text
    assert done.json() == {"to": "1002@default", "forwarded": True, "site": "branch"}


def test_a_forward_to_another_sites_mailbox_is_refused_with_both_sites_named(box: MailboxSite) -> None:
    original = box.leave("1001@default", AUDIO)
    with pytest.raises(Conflict) as refused:
        box.mailboxes.forward(ALICE, original, "1002@default@default")
    assert str(refused.value) == ("This message is on site branch; it can be forwarded only to a mailbox on that "
                                  "site, not to one on site default.")
    assert [p for p in box.spool_files("1002@default") if p.suffix != ".txt"] == []
    refusals = [d for _, action, outcome, d in box.audit(original)
                if action == "message.forward" and outcome == "error"]
    assert refusals == [{"to": "1002@default@default"}]
