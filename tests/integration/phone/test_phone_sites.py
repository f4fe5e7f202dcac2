"""The telephone menu, hot-desking and "Play on my phone" with two sites: two stand-in Asterisks, each with
its own spool and mailbox 1001@default, one database and vault. The branch's menu, hot-desk and AstDB run
over the branch's AMI (the settings as ``voicemail run --site branch`` sees them); the web host (the
default site's settings) plays each message on its own site's Asterisk."""

from __future__ import annotations

import asyncio
import grp
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.mailbox.harness import MailboxSite
from tests.integration.phone.harness import PIN, PhoneSite, caller, commands
from tests.integration.phone.test_hotdesk import CALLERS as DESK_CALLERS
from tests.integration.phone.test_hotdesk import DESK, FAMILY, Desks
from tests.integration.pipeline.harness import MAILBOXES, Site, make_wav, wait_for
from voicemail.ami.astdb import db_get
from voicemail.ami.client import AmiClient
from voicemail.app import Container, build_container
from voicemail.audit.store import AuditLog
from voicemail.config import Settings, for_site
from voicemail.domain.errors import FeatureUnavailable
from voicemail.domain.mailbox import Viewer
from voicemail.domain.models import MailboxRef
from voicemail.phone.tables import hotdesk_sessions, phone_pins
from voicemail.phone.wiring import pin_service
from voicemail.services.phone_pins import Argon2PinHasher
from voicemail.sites import Site as SiteConfig
from voicemail.standin import StandinConfig, StandinThread

BRANCH = "branch"
HQ_PIN = "740316"  # the PIN of the default site's 1001; the branch's 1001 has PIN
HQ_BOX, BRANCH_BOX = MailboxRef("default", "1001"), MailboxRef("default", "1001", BRANCH)
CHEAP = Argon2PinHasher(time_cost=1, memory_cost=1024, parallelism=1)
CALLERS = {
    **DESK_CALLERS,
    # listen (1) in the main menu's wait, save (9) in the wait after the message, leave (#)
    "owner": caller((2.2, f"{PIN}#"), (17, "1"), (39.5, "9"), (51, "#"), hangup_at=70),
    "hq-pin": caller((2.2, f"{HQ_PIN}#"), hangup_at=8),  # the other site's 1001's PIN
}


@dataclass
class TwoSites:
    hq: MailboxSite
    branch: PhoneSite  # the menu, its PINs and its container as the branch's `voicemail run` builds them

    def folders(self, box: MailboxSite, mailbox: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for path in box.spool_files(mailbox):
            if path.suffix == ".txt":
                out[path.parent.name] = out.get(path.parent.name, 0) + 1
        return out

    def audit(self, *actions: str) -> list[tuple[str, str, str, dict[str, object]]]:
        return [(e.actor, e.action, e.outcome, json.loads(e.details))
                for e in AuditLog(self.hq.container.engine).iter_all() if e.action in actions]


def _container(settings: Settings) -> Container:
    container = build_container(settings, lambda _mid: None)
    container.pins = pin_service(settings, container.engine, AuditLog(container.engine), CHEAP)
    return container


@contextmanager
def two_sites(root: Path) -> Iterator[TwoSites]:
    hq_site = Site(root / "hq", database_url=f"sqlite:///{root / 'vm.db'}")
    hq_site.prepare()
    hq_site.start_standin()
    branch_site = Site(root / "branch", database_url=hq_site.database_url, secret="branch-secret")
    branch_site.root.mkdir(parents=True)
    branch_site.standin = StandinThread(StandinConfig(spool_dir=branch_site.spool, username="voicemail",
                                                      secret=branch_site.secret, mailboxes=MAILBOXES,
                                                      timing="lab", callers=CALLERS))
    branch_site.port = branch_site.standin.start()
    group = grp.getgrgid(os.getgid()).gr_name
    branch = SiteConfig(BRANCH, ami_port=branch_site.port, ami_secret=branch_site.secret,
                        spool_dir=str(branch_site.spool), phone_device_template="Local/answer@phonesim/n")
    settings = replace(hq_site.settings(), spool_formats=("wav",), sites=(branch,),
                       phone_staging_dir=str(root / "staging"), phone_staging_group=group,
                       phone_trusted_contexts=("vmmenu", "vmhotdesk"), phone_menu_wait=8.0,
                       phone_device_template="Local/busy@phonesim/n", phone_ring_timeout=2.0)
    hq = MailboxSite(hq_site, _container(settings))
    branch_box = MailboxSite(branch_site, _container(for_site(settings, BRANCH)))
    try:
        yield TwoSites(hq, PhoneSite(branch_box, branch_box.container.settings))
    finally:
        for box in (hq, branch_box):
            box.container.close()
            box.site.stop_all()


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[TwoSites]:
    with two_sites(tmp_path) as made:
        pins = made.hq.container.pins
        assert pins is not None
        pins.set_pin(HQ_BOX, HQ_PIN, actor="test", source="test")
        pins.set_pin(BRANCH_BOX, PIN, actor="test", source="test")
        yield made


def test_a_branch_caller_reaches_the_branch_mailbox_and_saves_in_the_branch_spool(sites: TwoSites) -> None:
    hq_message = sites.hq.leave("1001@default", make_wav(2.0, 81))
    branch_message = sites.branch.box.leave("1001@default", make_wav(2.0, 82))
    assert sites.branch.box.container.store.get(branch_message).mailbox == BRANCH_BOX

    # one after the other: a right PIN resets the mailbox's failure count, so the wrong one comes last
    [owner] = sites.branch.run_calls([("owner", "1001")])
    [wrong] = sites.branch.run_calls([("hq-pin", "1001")])

    assert commands(wrong)[:2] == ["GET DATA vm-password 5000 20", 'STREAM FILE vm-incorrect ""']
    assert 'STREAM FILE vm-msgsaved "0123456789*#"' in commands(owner)
    assert sites.folders(sites.branch.box, "1001@default") == {"Old": 1}  # moved on the branch Asterisk
    assert sites.folders(sites.hq, "1001@default") == {"INBOX": 1}  # the default site's 1001 untouched
    assert sites.hq.container.store.get(branch_message).folder == "Old"
    assert sites.hq.container.store.get(hq_message).folder == "INBOX"
    assert sites.branch.staged_files() == []

    signins = [(o, d.get("result"), d["site"]) for _a, _act, o, d in sites.audit("phone.signin")]
    assert sorted(signins, key=str) == sorted([("ok", None, BRANCH), ("denied", "wrong PIN", BRANCH)], key=str)
    acts = [(a, act) for a, act, _o, _d in sites.audit("audio.play", "message.mark")]
    assert acts == [("phone:1001@default", "audio.play"), ("phone:1001@default", "message.mark")]
    assert {e.message_id for e in AuditLog(sites.hq.container.engine).iter_all()
            if e.action in ("audio.play", "message.mark")} == {branch_message}
    with sites.hq.container.engine.connect() as conn:
        keys = sorted(tuple(r) for r in conn.execute(select(phone_pins.c.site, phone_pins.c.mailbox,
                                                            phone_pins.c.failed_count)))
    assert keys == [(BRANCH, "1001", 1), ("default", "1001", 0)]  # the wrong PIN counted on the branch's only


def test_hot_desking_on_the_branch_writes_the_branch_astdb(sites: TwoSites) -> None:
    desks = Desks(sites.branch)
    [signin] = desks.run([("signin", DESK)])
    assert signin[-4:] == ['STREAM FILE auth-thankyou ""', 'SAY DIGITS 1001 ""', 'STREAM FILE vm-goodbye ""', "HANGUP"]
    assert desks.astdb[DESK] == "1001"  # read back from the branch's AstDB

    async def hq_astdb() -> str | None:
        site = sites.hq.site
        client = AmiClient("127.0.0.1", site.port, "voicemail", site.secret, ping_interval=0)
        await client.connect()
        try:
            return await db_get(client, FAMILY, DESK)
        finally:
            await client.close()

    assert asyncio.run(hq_astdb()) is None
    with sites.hq.container.engine.connect() as conn:
        rows = [(r.site, r.device, r.mailbox) for r in conn.execute(select(hotdesk_sessions))]
    assert rows == [(BRANCH, DESK, "1001")]
    [(actor, _act, _o, details)] = sites.audit("hotdesk.signin")
    assert actor == "phone:1001@default" and details["site"] == BRANCH and details["device"] == DESK


def test_play_on_my_phone_calls_from_the_message_s_own_asterisk(sites: TwoSites) -> None:
    hq_message = sites.hq.leave("1001@default", make_wav(1.0, 83))
    branch_message = sites.branch.box.leave("1001@default", make_wav(1.0, 84))
    services = sites.hq.services  # the web host: serves the default site, knows the branch's AMI secret
    dora = Viewer("dora", frozenset({"owner"}), (BRANCH_BOX,), "192.0.2.20")
    alice = Viewer("alice", frozenset({"owner"}), (HQ_BOX,), "192.0.2.21")

    def originates(site: Site) -> int:
        assert site.standin is not None
        return sum(1 for _t, _s, action in site.standin.activity() if action == "originate")

    call = services.play_on_phone(dora, branch_message)
    wait_for(lambda: services.phone_call(dora, call).final, 30, "the branch call to end")
    assert services.phone_call(dora, call).state == "finished"  # the branch's template: a phone that answers
    assert (originates(sites.branch.box.site), originates(sites.hq.site)) == (1, 0)

    other = services.play_on_phone(alice, hq_message)
    wait_for(lambda: services.phone_call(alice, other).final, 30, "the default site's call to end")
    assert services.phone_call(alice, other).state == "busy"  # the global template on the default site
    assert (originates(sites.branch.box.site), originates(sites.hq.site)) == (1, 1)
    assert list((sites.hq.site.root.parent / "staging").glob("vmplay-*")) == []


def test_play_on_my_phone_is_refused_for_a_site_whose_ami_secret_this_host_lacks(tmp_path: Path) -> None:
    with two_sites(tmp_path) as made:
        settings = made.hq.container.settings
        web = build_container(replace(settings, sites=(replace(settings.sites[0], ami_secret=""),)),
                              lambda _mid: None)
        try:
            branch_message = made.branch.box.leave("1001@default", make_wav(1.0, 85))
            dora = Viewer("dora", frozenset({"owner"}), (BRANCH_BOX,), "192.0.2.20")
            assert web.mailboxes is not None
            with pytest.raises(FeatureUnavailable, match="no AMI connection is configured for site 'branch'"):
                web.mailboxes.play_on_phone(dora, branch_message)
        finally:
            web.close()
