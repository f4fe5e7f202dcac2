"""`voicemail import`: take custody of every message already in an Asterisk spool (onboarding).

Resumable (run it again after Ctrl-C or a crash: messages on record are skipped by their msg_id),
throttled (lower CPU and disk priority, ``--rate``), not announced unless ``--notify``. ``--site NAME``
imports that site's spool (its spool_dir); each site's run resumes on its own. One import per site at a
time (voicemail.db.import_lock): a second exits with status 75. The run's end, done or interrupted, is
audited (``custody.import_end``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from voicemail.cli.common import config_option, handle_errors, rate_progress, settings_from

if TYPE_CHECKING:
    from voicemail.container import Container
    from voicemail.db.import_lock import ImportLock
    from voicemail.db.import_store import SqlImportStore
    from voicemail.services.spool_import import ImportReport, SpoolImport


def register(main: click.Group) -> None:
    @main.command("import")
    @click.option("--notify", is_flag=True, help="Announce the imported messages to their owners like new ones "
                  "(default: not announced; their notifications are recorded as skipped).")
    @click.option("--rate", type=click.FloatRange(0), default=0.0, show_default=True,
                  help="At most this many messages per second (0: no limit).")
    @click.option("--priority", type=click.Choice(["idle", "low", "normal"]), default="low", show_default=True,
                  help="CPU and disk priority of the import: idle (only when nobody else needs the disk), "
                  "low (nice 10, lowest best-effort disk level) or normal.")
    @click.option("--batch", "batch_size", type=click.IntRange(1, 10_000), default=200, show_default=True,
                  help="Messages sealed per database commit (and per file-system sync).")
    @click.option("--threads", type=click.IntRange(1, 32), default=8, show_default=True,
                  help="Messages sealed and stripped at once within a batch (their file operations overlap).")
    @click.option("--cutoff-margin", type=click.IntRange(0), default=300, show_default=True, metavar="SECONDS",
                  help="The run takes messages recorded this long before its start and earlier; newer ones are "
                  "the live pipeline's (announced). The start is the database's clock (or this host's, if "
                  "earlier): the margin absorbs the difference between Asterisk's clock and it.")
    @click.option("--site", default=None, metavar="NAME",
                  help="Import this site's spool (its spool_dir) and record its messages on that site: site_name "
                  "or a [[sites]] name (env VOICEMAIL_SITE; default: the default site).")
    @config_option
    @handle_errors
    def import_spool(notify: bool, rate: float, priority: str, batch_size: int, threads: int, cutoff_margin: int,
                     site: str | None, config_file: str | None) -> None:
        """Take custody of every message already in the spool: seal it into the vault, record it, and
        replace its recording by a placeholder (Asterisk's counts and lamps stay as they are).

        Messages recorded before this import started (less --cutoff-margin) are imported; newer ones are
        left to the running service. Stop it any time (Ctrl-C) and run it again to resume: messages already
        in custody are skipped, none is sealed twice. Imported messages are not announced unless --notify is
        given. One import per site at a time: a second one exits with status 75. With several sites, run
        it once per site (--site NAME, where that site's spool is mounted): each site's run is resumed on
        its own."""
        from voicemail.app import build_container, build_spool_import
        from voicemail.audit.context import cli_actor
        from voicemail.config import serving_site, several_sites
        from voicemail.db.import_lock import ImportLock
        from voicemail.io_priority import lower_priority

        settings = settings_from(config_file, site=site)
        name = serving_site(settings)
        again = f"voicemail import --site {name}" if settings.site else "voicemail import"
        click.echo(lower_priority(priority), err=True)
        container = build_container(settings, on_new=lambda _id: None)
        try:
            importer, store = build_spool_import(container, batch_size=batch_size, rate=rate, threads=threads)
            lock = ImportLock(container.engine, name)
            if not lock.acquire():
                click.echo(f"voicemail: another `voicemail import` of site {name} is running; this one did "
                           "nothing (let that one finish, or stop it and run this again)", err=True)
                sys.exit(BUSY)
            try:
                report = _run(container, importer, store, notify=notify, margin=cutoff_margin, actor=cli_actor(),
                              several=several_sites(settings), name=name, again=again, lock=lock)
            finally:
                lock.release()
        finally:
            container.close()
        seconds = max(time.monotonic() - report.started, 1e-9)
        counts = report.counts
        click.echo(f"mailboxes: {counts.mailboxes}  messages seen: {counts.seen}  imported: {counts.imported}  "
                   f"({counts.imported / seconds:.0f}/s)")
        click.echo(f"  already in custody: {counts.already}  stripped after an interrupted run: "
                   f"{counts.resumed_strips}  left to the live pipeline: {counts.left_to_live}  "
                   f"gone meanwhile: {counts.vanished}  spool problems: {counts.problems}")
        click.echo("  imported messages were " + ("announced to their owners" if report.notify else
                                                 "not announced (use --notify to announce them)"))


BUSY = 75  # exit status: another import of the site holds its lock (try again later)
LOCK_CHECK_SECONDS = 5.0  # how often a running import makes sure its lock is still its own


class LockLost(Exception):
    """The site's import lock went with its database connection: another import may have the site now."""


def _watched(step: Callable[[int], None], lock: ImportLock, every: float = LOCK_CHECK_SECONDS,
             clock: Callable[[], float] = time.monotonic) -> Callable[[int], None]:
    """``step``, that also checks every ``every`` seconds that ``lock`` is still held (LockLost if not)."""
    due = clock() + every

    def watched(n: int) -> None:
        nonlocal due
        step(n)
        if clock() >= due:
            if not lock.held():
                raise LockLost
            due = clock() + every
    return watched


@dataclass
class _Finished:
    counts: ImportReport
    started: float  # time.monotonic() when the walk began
    notify: bool


def cutoff(database_time: int, margin: int, host_time: float | None = None) -> int:
    """The run's cutoff: the earlier of the database's clock and this host's, less ``margin`` seconds. A
    host clock that is ahead cannot move newer messages into the import (where they are not announced);
    one that is behind only leaves more to the live pipeline."""
    host = int(time.time() if host_time is None else host_time)
    return min(database_time, host) - margin


def _run(container: Container, importer: SpoolImport, store: SqlImportStore, *, notify: bool, margin: int,
         actor: str, several: bool, name: str, again: str, lock: ImportLock) -> _Finished:
    """Open (or resume) the run, walk the spool under a progress bar and record how the run ended. Ctrl-C
    at any point after the run is opened records it as interrupted (with what it imported) and exits 130."""
    from voicemail.db.import_store import DONE, INTERRUPTED
    from voicemail.services.spool_import import ImportReport

    run = store.open_run(cutoff(store.database_time(), margin), notify, actor)
    counts = ImportReport()
    started = time.monotonic()
    try:
        if several:
            click.echo(f"importing the spool of site {name} ({container.settings.spool_dir})", err=True)
        if run.resumed:
            click.echo(f"resuming import run {run.id} (messages before {run.cutoff}, "
                       f"{'announced' if run.notify else 'not announced'})", err=True)
            if run.notify != notify:
                click.echo("  the run keeps the --notify choice it was started with", err=True)
        total = container.spool.count_envelopes()
        started = time.monotonic()
        with rate_progress("importing") as start:
            bar = start(total)
            importer.run(run, _watched(bar, lock), bar.skip, report=counts)
    except LockLost:
        ours = store.end_run(run, INTERRUPTED, counts.imported, actor, _audited(counts))
        then = (f"so another import could take the site; run `{again}` again to resume" if ours else
                f"and another import has resumed run {run.id} since; it goes on there")
        click.echo(f"\nstopped: the database connection holding this import's lock on site {name} was lost, {then} "
                   f"({counts.imported} imported this time, nothing is sealed twice)", err=True)
        sys.exit(BUSY)
    except KeyboardInterrupt:
        ours = store.end_run(run, INTERRUPTED, counts.imported, actor, _audited(counts))
        then = (f"run `{again}` again to resume" if ours else
                f"another import has resumed run {run.id}; it goes on there")
        click.echo(f"\ninterrupted: {then} (nothing is sealed twice; {counts.imported} imported this time)", err=True)
        sys.exit(130)
    if not store.end_run(run, DONE, counts.imported, actor, _audited(counts)):
        click.echo(f"another import has resumed run {run.id} since this one lost the site's lock; that import "
                   "records the run's end", err=True)
    return _Finished(counts, started, run.notify)


def _audited(counts: ImportReport) -> dict[str, int]:
    """What the end-of-run audit event records besides the imported count (no message content)."""
    return {"seen": counts.seen, "already": counts.already, "resumed_strips": counts.resumed_strips,
            "left_to_live": counts.left_to_live, "vanished": counts.vanished, "problems": counts.problems}
