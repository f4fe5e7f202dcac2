"""Legal holds with several sites: a hold that names a site covers only that site's mailbox (retention,
quota eviction and owner deletion leave the other site's 1001@default to its own fate); a hold that names
none, as every hold placed before holds had a site, covers the mailbox on every site. SQLite."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.integration.lifecycle.test_quota import leave_message, seal_new
from tests.unit.core.test_custody import World
from tests.unit.lifecycle.support import DAY, IVY, NOW, Site, open_audio, open_case, seed, states
from voicemail.app import Container
from voicemail.audit.holds import Hold, covers
from voicemail.audit.queries import holds_of_case
from voicemail.audit.tables import holds
from voicemail.cli import main
from voicemail.domain.errors import InvalidInput
from voicemail.domain.models import MailboxRef
from voicemail.lifecycle.wiring import Lifecycle
from voicemail.sites import Site as Branch

BOX = MailboxRef("default", "1001")
# A branch message this (default site's) process shreds: its key is destroyed here, and the branch's own
# processes remove its Asterisk envelope and make it a tombstone.
BRANCH_SHREDDED = "shredding"


def retention(c: Container) -> None:
    Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW).runner("retention", "test").run()


def two_sites(tmp_path: Path, **overrides: object) -> tuple[Site, Container]:
    """A default site and a branch site (whose spool this process does not serve)."""
    site = Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}", **overrides)
    site.settings = dataclasses.replace(site.settings, sites=(Branch("branch", spool_dir=str(tmp_path / "b")),))
    return site, site.container()


def test_a_hold_on_one_sites_mailbox_keeps_that_sites_messages_only(tmp_path: Path) -> None:
    _, c = two_sites(tmp_path)
    here = seed(c, age_days=900)  # 1001@default at the default site, long past its retention
    there = seed(c, age_days=900, site="branch")  # 1001@default at the branch
    open_case(c, "CI-8").holds.place(IVY, "CI-8", "mailbox", mailbox=BOX, site="branch")
    assert [h.target for h in holds_of_case(c.engine, "CI-8")] == ["mailbox 1001@default on site branch"]
    retention(c)
    s = states(c)
    assert (s[here[0]], s[there[0]]) == ("destroyed", "stripped")
    assert open_audio(c, there[0]) == there[1]
    c.close()


def test_a_hold_naming_the_site_in_the_mailbox_is_the_same_as_site(tmp_path: Path) -> None:
    _, c = two_sites(tmp_path)
    here = seed(c, age_days=900)
    there = seed(c, age_days=900, site="branch")
    inv = open_case(c, "CI-8")
    inv.holds.place(IVY, "CI-8", "mailbox", mailbox=MailboxRef.parse("1001@default@default"))
    with pytest.raises(InvalidInput):
        inv.holds.place(IVY, "CI-8", "mailbox", mailbox=MailboxRef.parse("1001@default@default"), site="branch")
    retention(c)
    assert (states(c)[here[0]], states(c)[there[0]]) == ("stripped", BRANCH_SHREDDED)
    c.close()


def test_a_hold_without_a_site_still_covers_the_mailbox_on_every_site(tmp_path: Path) -> None:
    _, c = two_sites(tmp_path)
    both = [seed(c, age_days=900), seed(c, age_days=900, site="branch")]
    other = seed(c, age_days=900, mailbox="1002", site="branch")
    open_case(c, "CI-8").holds.place(IVY, "CI-8", "mailbox", mailbox=BOX)
    with c.engine.connect() as conn:
        assert conn.execute(select(holds.c.site)).scalar_one() is None  # as every hold placed before 0016
    retention(c)
    s = states(c)
    assert [s[mid] for mid, _ in both] == ["stripped", "stripped"] and s[other[0]] == BRANCH_SHREDDED
    c.close()


def test_a_time_range_hold_of_one_site_covers_every_mailbox_of_that_site_only(tmp_path: Path) -> None:
    _, c = two_sites(tmp_path)
    here = seed(c, age_days=900, mailbox="1002")
    there = seed(c, age_days=900, mailbox="1002", site="branch")
    open_case(c, "CI-8").holds.place(IVY, "CI-8", "range", end_at=int(NOW - 800 * DAY), site="branch")
    retention(c)
    assert (states(c)[here[0]], states(c)[there[0]]) == ("destroyed", "stripped")
    c.close()


def test_quota_eviction_passes_over_the_held_sites_messages_only(tmp_path: Path, captures: Path) -> None:
    new_size = (captures / "msg0000.wav").stat().st_size
    site, _ = two_sites(tmp_path, quota_site_bytes=2 * 2004 + new_size - 1)
    _.close()
    found: list[str] = []
    c = site.container(on_new=found.append)
    there = seed(c, age_days=40, site="branch")  # the oldest, but held
    here = seed(c, age_days=30)
    open_case(c, "CI-8").holds.place(IVY, "CI-8", "mailbox", mailbox=BOX, site="branch")
    leave_message(site, captures)
    new_id = seal_new(c, found)
    s = states(c)
    assert (s[there[0]], s[here[0]], s[new_id]) == ("stripped", "destroyed", "sealed")
    c.close()


def test_owner_deletion_paths_see_the_site_of_the_hold(tmp_path: Path) -> None:
    _, c = two_sites(tmp_path)
    here = seed(c, age_days=1)
    there = seed(c, age_days=1, site="branch")
    open_case(c, "CI-8").holds.place(IVY, "CI-8", "mailbox", mailbox=BOX, site="branch")
    assert c.shredder is not None
    assert c.shredder.shred(there[0], actor="owner", source="test", reason="deleted") == "held"
    assert c.shredder.shred(here[0], actor="owner", source="test", reason="deleted") == "destroyed"
    c.close()


def test_covers_compares_the_site_of_a_message_named_without_one_with_the_default_sites_name() -> None:
    from voicemail.domain.models import Caller
    from voicemail.domain.records import MessageRecord

    def message(site: str) -> MessageRecord:
        return MessageRecord(id="m", mailbox=MailboxRef("default", "1001", site), msg_id="1-00000000",
                             state="stripped", folder="INBOX", origtime=1, duration=0, urgent=False,
                             caller=Caller.external(), wrapped_key=None, recordings=())

    on_hq = Hold("h", "CI", "mailbox", BOX, None, None, None, site="hq")
    assert covers(on_hq, message(""), default_site="hq") and covers(on_hq, message("hq"), default_site="hq")
    assert not covers(on_hq, message(""), default_site="default") and not covers(on_hq, message("branch"), "hq")
    everywhere = Hold("h", "CI", "mailbox", BOX, None, None, None)
    assert all(covers(everywhere, message(s), "hq") for s in ("", "hq", "branch"))


def test_the_hold_command_takes_a_site_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    world = World(tmp_path / "w")
    env = {"VOICEMAIL_DATABASE_URL": f"sqlite:///{world.root / 'vm.db'}", "VOICEMAIL_LOG_LEVEL": "ERROR",
           "VOICEMAIL_VAULT_DIR": str(world.root / "vault"), "VOICEMAIL_KEYRING": str(world.root / "keyring.json"),
           "VOICEMAIL_SPOOL_DIR": str(world.root / "spool"), "VOICEMAIL_SITES": "branch"}

    def run(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.output

    run("role", "grant", "root", "administrator", "--reason", "bootstrap", "--actor", "root")
    run("role", "grant", "ivy", "investigator", "--reason", "appointed", "--actor", "root")
    run("case", "open", "--number", "CI-8", "--authority", "OIG", "--reason", "fraud", "--actor", "ivy")
    placed = run("hold", "place", "--case", "CI-8", "--mailbox", "1001@default", "--site", "branch",
                 "--reason", "keep", "--actor", "ivy")
    assert "placed (mailbox on site branch)" in placed
    assert "unknown site 'brnach'" in run("hold", "place", "--case", "CI-8", "--mailbox", "1001@default", "--site",
                                          "brnach", "--reason", "keep", "--actor", "ivy", code=1)
    assert "every site" not in run("hold", "place", "--case", "CI-8", "--mailbox", "1001@default", "--reason", "k",
                                   "--actor", "ivy")
