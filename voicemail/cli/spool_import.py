"""`voicemail import`: take custody of every message already in an Asterisk spool (onboarding).

Resumable (run it again after Ctrl-C or a crash: messages on record are skipped by their msg_id),
throttled (lower CPU and disk priority, ``--rate``), not announced unless ``--notify``. ``--site NAME``
imports that site's spool (its spool_dir); each site's run resumes on its own.
"""

from __future__ import annotations

import sys
import time

import click

from voicemail.cli.common import config_option, handle_errors, progress, settings_from


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
    @click.option("--site", default=None, metavar="NAME",
                  help="Import this site's spool (its spool_dir) and record its messages on that site: site_name "
                  "or a [[sites]] name (env VOICEMAIL_SITE; default: the default site).")
    @config_option
    @handle_errors
    def import_spool(notify: bool, rate: float, priority: str, batch_size: int, threads: int, site: str | None,
                     config_file: str | None) -> None:
        """Take custody of every message already in the spool: seal it into the vault, record it, and
        replace its recording by a placeholder (Asterisk's counts and lamps stay as they are).

        Messages recorded before this import started are imported; newer ones are left to the running
        service. Stop it any time (Ctrl-C) and run it again to resume: messages already in custody are
        skipped, none is sealed twice. Imported messages are not announced unless --notify is given.
        With several sites, run it once per site (--site NAME, where that site's spool is mounted): each
        site's run is resumed on its own."""
        from voicemail.app import build_container, build_spool_import
        from voicemail.audit.context import cli_actor
        from voicemail.config import serving_site, several_sites
        from voicemail.db.import_store import DONE, INTERRUPTED
        from voicemail.io_priority import lower_priority

        settings = settings_from(config_file, site=site)
        name = serving_site(settings)
        again = f"voicemail import --site {name}" if settings.site else "voicemail import"
        click.echo(lower_priority(priority), err=True)
        container = build_container(settings, on_new=lambda _id: None)
        try:
            importer, store = build_spool_import(container, batch_size=batch_size, rate=rate, threads=threads)
            run = store.open_run(int(time.time()), notify, cli_actor())
            if several_sites(settings):
                click.echo(f"importing the spool of site {name} ({settings.spool_dir})", err=True)
            if run.resumed:
                click.echo(f"resuming import run {run.id} (messages before {run.cutoff}, "
                           f"{'announced' if run.notify else 'not announced'})", err=True)
                if run.notify != notify:
                    click.echo("  the run keeps the --notify choice it was started with", err=True)
            total = container.spool.count_envelopes()
            started = time.monotonic()
            try:
                with progress("importing", rate=True) as bar:
                    report = importer.run(run, bar(total))
            except KeyboardInterrupt:
                store.end_run(run.id, INTERRUPTED)
                click.echo(f"\ninterrupted: run `{again}` again to resume (nothing is sealed twice)", err=True)
                sys.exit(130)
            store.end_run(run.id, DONE, report.imported)
        finally:
            container.close()
        seconds = max(time.monotonic() - started, 1e-9)
        click.echo(f"mailboxes: {report.mailboxes}  messages seen: {report.seen}  imported: {report.imported}  "
                   f"({report.imported / seconds:.0f}/s)")
        click.echo(f"  already in custody: {report.already}  stripped after an interrupted run: "
                   f"{report.resumed_strips}  left to the live pipeline: {report.left_to_live}  "
                   f"gone meanwhile: {report.vanished}  spool problems: {report.problems}")
        click.echo("  imported messages were " + ("announced to their owners" if run.notify else
                                                 "not announced (use --notify to announce them)"))
