"""Shredding with several sites: a process removes Asterisk envelopes only on the site it serves. A message
of another site has its key destroyed where the shred is decided, and the rest (blobs, that site's
envelope, the tombstone) is handed to that site; its own processes finish it. SQLite."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from sqlalchemy import select

from tests.unit.lifecycle.support import NOW, Site, messages, open_audio, seed
from tests.unit.sites.test_site_control import Recorded
from voicemail.ami.site_control import SiteMailboxControl
from voicemail.app import Container, build_container
from voicemail.audit.access import Access
from voicemail.audit.holds import Holds
from voicemail.audit.store import AuditLog
from voicemail.config import for_site
from voicemail.db.engine import make_sessionmaker
from voicemail.db.mailbox_store import SqlMailboxStore
from voicemail.domain.errors import AmiError
from voicemail.domain.models import MailboxRef
from voicemail.lifecycle.wiring import Lifecycle
from voicemail.services.shred import CryptoShredder, ShredSites
from voicemail.sites import Site as Branch
from workers.celery_app import SiteRouter

Handed = list[tuple[str, str, str, str, str]]


def two_sites(tmp_path: Path) -> Site:
    site = Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}", site_name="hq")
    site.settings = dataclasses.replace(site.settings, sites=(Branch("branch", spool_dir=str(tmp_path / "b")),))
    return site


def shredder(c: Container, here: str, asterisks: dict[str, Recorded], handed: Handed) -> CryptoShredder:
    """The shredder of a process serving ``here``, with a recording control per site's Asterisk."""
    engine, default = c.engine, c.settings.site_name
    rows = SqlMailboxStore(make_sessionmaker(engine), default_site=default)
    audit = AuditLog(engine)
    return CryptoShredder(rows, c.vault, Holds(engine, Access(engine, audit), default), audit,
                          SiteMailboxControl(asterisks, default),
                          sites=ShredSites(here, default, lambda *args: handed.append(args)))


def state(c: Container, message_id: str) -> str:
    with c.engine.connect() as conn:
        return str(conn.execute(select(messages.c.state).where(messages.c.id == message_id)).scalar_one())


def test_another_site_s_message_is_handed_to_its_site_and_finished_only_there(tmp_path: Path) -> None:
    c = two_sites(tmp_path).container()
    hq, branch = Recorded(), Recorded()
    handed: Handed = []
    there, _ = seed(c, age_days=900, site="branch")

    assert shredder(c, "hq", {"hq": hq, "branch": branch}, handed).shred(
        there, actor="retention", source="beat@hq", reason="expired") == "started"
    assert hq.calls == [] and branch.calls == []  # no Asterisk touched by the hq process
    assert handed == [(there, "branch", "retention", "beat@hq", "expired")]
    assert state(c, there) == "shredding"

    assert shredder(c, "branch", {"hq": hq, "branch": branch}, []).shred(
        there, actor="retention", source="beat@hq", reason="expired") == "destroyed"
    assert hq.calls == [] and [call for call, _ in branch.calls] == ["remove"]
    assert state(c, there) == "destroyed"
    c.close()


def test_the_served_site_s_message_is_shredded_in_full_on_its_own_asterisk(tmp_path: Path) -> None:
    c = two_sites(tmp_path).container()
    hq, branch = Recorded(), Recorded()
    handed: Handed = []
    here, _ = seed(c, age_days=900, site="hq")
    assert shredder(c, "hq", {"hq": hq, "branch": branch}, handed).shred(
        here, actor="owner", source="web", reason="deleted") == "destroyed"
    assert [call for call, _ in hq.calls] == ["remove"] and branch.calls == [] and handed == []
    c.close()


def test_retention_on_one_site_lists_the_other_site_s_messages_as_destroyed_and_hands_them_over(
        tmp_path: Path) -> None:
    site = two_sites(tmp_path)
    handed: list[tuple[str, ...]] = []
    c = build_container(site.settings, on_new=lambda _id: None, on_shred_elsewhere=lambda *a: handed.append(a))
    here, there = seed(c, age_days=900, site="hq"), seed(c, age_days=900, site="branch")
    young = seed(c, age_days=10, site="branch")
    report = Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW).runner("retention", "beat@hq").run()
    by_class = {e["class"]: e for e in report.record["record"]["classes"]}
    assert set(by_class["messages.new"]["ids"]) == {here[0], there[0]} and report.failed == 0
    assert (state(c, here[0]), state(c, there[0]), state(c, young[0])) == ("destroyed", "shredding", "stripped")
    assert [(h[0], h[1]) for h in handed] == [(there[0], "branch")]
    assert open_audio(c, young[0]) == young[1]

    # the next run finds it still shredding (the branch's workers were away): handed again, not destroyed twice
    again = Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW).runner("retention", "beat@hq").run()
    entry = {e["class"]: e for e in again.record["record"]["classes"]}["messages.new"]
    assert (entry["ids"], entry["already_destroyed"]) == ([], [there[0]])
    assert [h[0] for h in handed] == [there[0], there[0]]
    c.close()

    # the branch's own process finishes it (no AMI here: the envelope step is skipped and logged)
    branch = build_container(for_site(site.settings, "branch"), on_new=lambda _id: None)
    assert branch.shredder is not None
    assert branch.shredder.shred(there[0], actor="retention", source="beat@hq", reason="x") == "destroyed"
    assert state(branch, there[0]) == "destroyed"
    branch.close()


def test_a_process_sweeps_only_its_own_site_s_unfinished_shreds(tmp_path: Path) -> None:
    c = two_sites(tmp_path).container()
    ids = {site: seed(c, age_days=1, site=site)[0] for site in ("hq", "branch")}
    for message_id in ids.values():
        assert shredder(c, "elsewhere", {}, []).shred(message_id, actor="a", source="s", reason="r") == "started"
    sessions = make_sessionmaker(c.engine)
    for site, message_id in ids.items():
        assert SqlMailboxStore(sessions, default_site="hq", served_site=site).unfinished_shreds() == [message_id]
    assert sorted(SqlMailboxStore(sessions, default_site="hq").unfinished_shreds()) == sorted(ids.values())
    c.close()


def test_the_finishing_task_goes_to_the_custody_queue_of_the_message_s_site() -> None:
    route = SiteRouter("hq", embedded=False)
    assert route("workers.tasks.finish_shred", ("m",), {"site": "branch"}, {}) == {"queue": "custody.branch"}


def test_quota_eviction_of_another_site_s_message_frees_its_space_and_hands_it_over(tmp_path: Path) -> None:
    site = two_sites(tmp_path)
    site.settings = dataclasses.replace(site.settings, quota_site_bytes=2100)
    handed: list[tuple[str, ...]] = []
    c = build_container(site.settings, on_new=lambda _id: None, on_shred_elsewhere=lambda *a: handed.append(a))
    oldest = seed(c, age_days=40, site="branch")
    new = seed(c, age_days=0, site="hq")
    [result] = Lifecycle(c).quota().after_seal(new[0])
    assert result.destroyed == (oldest[0],) and result.alert_id is None and result.used_after <= 2100
    assert (state(c, oldest[0]), state(c, new[0])) == ("shredding", "stripped")
    assert [(h[0], h[1]) for h in handed] == [(oldest[0], "branch")]
    c.close()


def test_an_owner_s_delete_of_another_site_s_message_destroys_its_key_and_leaves_asterisk_to_that_site(
        tmp_path: Path) -> None:
    from voicemail.domain.mailbox import Viewer

    site = two_sites(tmp_path)
    site.settings = dataclasses.replace(site.settings, ami_secret="hq-secret")  # the web host: hq's AMI only
    c = site.container()
    assert c.mailboxes is not None and c.moves is not None
    there, _ = seed(c, age_days=1, site="branch")
    dora = Viewer("dora", frozenset({"owner"}), (MailboxRef("default", "1001", "branch"),), "192.0.2.7")
    c.mailboxes.delete(dora, there)
    assert c.moves.wait_idle(5)  # this process neither follows it up nor sweeps the branch's unfinished shreds
    assert state(c, there) == "shredding"
    steps = [json.loads(e.details)["step"] for e in AuditLog(c.engine).events(message_id=there)
             if e.action == "message.shred"]
    assert steps == ["key"]  # no spool step here
    c.close()


def test_finishing_a_shred_resolves_the_dead_letter_of_a_finishing_task_that_gave_up(tmp_path: Path) -> None:
    site = two_sites(tmp_path)
    c = site.container()
    there, _ = seed(c, age_days=1, site="branch")
    assert shredder(c, "hq", {}, []).shred(there, actor="a", source="s", reason="r") == "started"
    c.store.dead_letter("workers.tasks.finish_shred", there, "AmiError: branch unreachable", 9)
    assert [letter[1] for letter in c.store.dead_letters()] == [there]
    assert shredder(c, "branch", {"branch": Recorded()}, []).shred(there, actor="a", source="s",
                                                                    reason="r") == "destroyed"
    assert c.store.dead_letters() == []
    c.close()


class Unreachable(Recorded):
    """An Asterisk whose AMI does not answer."""

    def remove(self, mailbox: MailboxRef, msg_id: str) -> bool:
        raise AmiError("the branch AMI does not answer")


def test_the_finishing_task_runs_the_shred_on_its_site_retries_and_parks_it_when_asterisk_stays_away(
        tmp_path: Path) -> None:
    from types import SimpleNamespace

    from workers import runtime
    from workers.tasks import finish_shred

    c = two_sites(tmp_path).container()
    done, stuck = seed(c, age_days=1, site="branch")[0], seed(c, age_days=1, site="branch")[0]
    for message_id in (done, stuck):
        assert shredder(c, "hq", {}, []).shred(message_id, actor="a", source="s", reason="r") == "started"
    previous = runtime._container
    settings = dataclasses.replace(c.settings, site="branch", task_max_retries=2)
    try:
        runtime.install(SimpleNamespace(  # type: ignore[arg-type]
            store=c.store, settings=settings, shredder=shredder(c, "branch", {"branch": Recorded()}, [])))
        ran = finish_shred.apply(args=(done,), kwargs={"site": "branch", "actor": "a", "source": "s", "reason": "r"})
        assert ran.successful() and ran.result == "destroyed" and state(c, done) == "destroyed"
        again = finish_shred.apply(args=(done,), kwargs={"site": "branch", "actor": "a", "source": "s", "reason": "r"})
        assert again.result == "already"  # a duplicate delivery

        runtime.install(SimpleNamespace(  # type: ignore[arg-type]
            store=c.store, settings=settings, shredder=shredder(c, "branch", {"branch": Unreachable()}, [])))
        failed = finish_shred.apply(args=(stuck,), kwargs={"site": "branch", "actor": "a", "source": "s",
                                                           "reason": "r"})
        assert failed.failed() and isinstance(failed.result, AmiError)
        assert [(task, ref) for task, ref, _error, _n in c.store.dead_letters()] == [
            ("workers.tasks.finish_shred", stuck)]
        assert state(c, stuck) == "shredding"  # its site's sweep or the next retention run goes on with it
    finally:
        runtime._container = previous
        c.close()
