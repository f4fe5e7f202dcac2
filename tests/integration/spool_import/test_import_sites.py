"""`voicemail import --site NAME` with two sites, each spool written as the stand-in's app_voicemail writes
it: each import takes its own site's spool and records its messages on that site (the same mailbox and
msg_id on both sites are two messages), and each site resumes its own unfinished run."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from sqlalchemy import func, insert, select

from tests.integration.pipeline.harness import Site
from tests.integration.spool_import.conftest import fill, run_import
from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.import_store import SqlImportStore
from voicemail.db.models import ImportRunRow, MessageRow
from voicemail.spool.placeholder import is_placeholder_bytes
from voicemail.standin.spool_fill import fill_spool


def _branch(site: Site) -> tuple[Path, dict[str, str]]:
    spool = site.root / "branch-spool"
    return spool, {"VOICEMAIL_SITES": "branch", "VOICEMAIL_SITE_BRANCH_SPOOL_DIR": str(spool)}


def _by_site(site: Site) -> dict[tuple[str, str], int]:
    engine = make_engine(site.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(MessageRow.site, MessageRow.state, func.count())
                                .group_by(MessageRow.site, MessageRow.state)).all()
        return {(r[0], r[1]): int(r[2]) for r in rows}
    finally:
        engine.dispose()


def _plaintext(spool: Path) -> int:
    return sum(1 for p in spool.rglob("msg*.wav") if not is_placeholder_bytes("wav", p.read_bytes()[:64]))


def test_each_site_imports_its_own_spool_and_records_its_messages_on_that_site(site: Site) -> None:
    branch_spool, env = _branch(site)
    here = fill(site, mailboxes=3, messages=12)
    there = list(fill_spool(branch_spool, 3, 12, keep=True))  # the same mailboxes and msg_ids as here
    assert {(w.mailbox, w.msg_id) for w in here} == {(w.mailbox, w.msg_id) for w in there}

    branch = run_import(site, "--site", "branch", **env)
    assert branch.returncode == 0, branch.stderr
    assert "imported: 12" in branch.stdout and "site branch" in branch.stderr
    assert _by_site(site) == {("branch", "stripped"): 12}
    assert _plaintext(branch_spool) == 0 and _plaintext(site.spool) == 12  # the default spool untouched

    default = run_import(site, **env)
    assert default.returncode == 0, default.stderr
    assert "imported: 12" in default.stdout and "already in custody: 0" in default.stdout
    assert _by_site(site) == {("branch", "stripped"): 12, ("default", "stripped"): 12}
    assert _plaintext(site.spool) == 0
    for w in there[::5]:  # the branch's recording, sealed under the branch's mailbox
        assert hashlib.sha256(site.open_sealed(f"{w.mailbox}@branch", w.msg_id)).digest() == \
            hashlib.sha256(w.audio["wav"]).digest()


def test_an_unfinished_run_of_one_site_is_neither_resumed_nor_waited_for_by_another(site: Site) -> None:
    branch_spool, env = _branch(site)
    fill(site, mailboxes=2, messages=4)
    list(fill_spool(branch_spool, 2, 4))
    engine = make_engine(site.database_url)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:  # the default site's import was interrupted (Ctrl-C) with an early cutoff
        conn.execute(insert(ImportRunRow).values(id="run-of-the-default-site", site="default", cutoff=1,
                                                 notify=True, state="interrupted", imported=0, started_at=now,
                                                 updated_at=now))
    sessions = make_sessionmaker(engine)
    assert SqlImportStore(sessions, site="default").unfinished_cutoff() == 1
    assert SqlImportStore(sessions, site="branch").unfinished_cutoff() is None  # branch discovery not held back

    branch = run_import(site, "--site", "branch", **env)
    assert branch.returncode == 0, branch.stderr
    assert "resuming" not in branch.stderr and "imported: 4" in branch.stdout
    assert "not announced" in branch.stdout  # its own --notify choice, not the default site's run's

    default = run_import(site, **env)
    assert default.returncode == 0, default.stderr
    assert "resuming import run run-of-the-default-site" in default.stderr
    assert "imported: 0" in default.stdout and "left to the live pipeline: 4" in default.stdout  # cutoff 1
    with engine.connect() as conn:
        runs = dict(conn.execute(select(ImportRunRow.site, ImportRunRow.state)).all())
    engine.dispose()
    assert runs == {"default": "done", "branch": "done"}
