"""`voicemail run | worker | beat | demo | reconcile`: the long-running processes and one reconciliation pass."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from voicemail.cli.common import config_option, handle_errors, progress, settings_from, setup_logging, site_option
from voicemail.domain.errors import ConfigError

if TYPE_CHECKING:
    from voicemail.services.first_start import FirstStartBacklog


def register(main: click.Group) -> None:
    @main.command()
    @config_option
    @site_option
    @click.option("--no-web", is_flag=True, help="Do not serve the web app; by default it is served on "
                  "web_host:web_port beside the listener.")
    @click.option("--announce-existing", is_flag=True, help="On a site never served, take custody of the "
                  "messages already in its spool and announce every one (without it, more than "
                  "first_start_backlog of them stop the start: `voicemail import` takes them silently).")
    @handle_errors
    def run(config_file: str | None, site: str | None, no_web: bool, announce_existing: bool) -> None:
        """Connect to Asterisk (AMI) and run the listener. With no broker configured this also runs a
        worker and the sweeper in-process, so one command is a whole working system. Only the process
        holding the site's listener lease listens; another `voicemail run` for the same site_name stands by
        and takes over when the lease lapses. A listener that lost its lease exits with status 75 (its
        service manager restarts it, as a stand-by). With several sites, `--site NAME` listens to that
        site's Asterisk, under that site's lease.

        On a site the database never served (no message, import run or lease of it) whose spool already
        holds more than first_start_backlog messages, it exits with status 78 before connecting to Asterisk:
        run `voicemail import` first, or pass --announce-existing to announce them all."""
        from voicemail.config import serving_site
        from voicemail.domain.errors import ListenerLeaseLost
        from voicemail.service import run_service
        from voicemail.services.first_start import FirstStartBacklog

        settings = settings_from(config_file, site=site)
        if not settings.ami_secret:
            raise ConfigError(f"AMI secret of site {serving_site(settings)!r} (ami_secret, VOICEMAIL_AMI_SECRET, or "
                              "the site's ami_secret): required to log in to Asterisk")
        try:
            asyncio.run(run_service(settings, web=not no_web, announce_existing=announce_existing))
        except ListenerLeaseLost as exc:
            click.echo(f"voicemail: {exc}; stepped down (restart to stand by)", err=True)
            sys.exit(75)
        except FirstStartBacklog as exc:
            click.echo(backlog_text(exc, settings.site), err=True)
            sys.exit(BACKLOG)

    @main.command()
    @config_option
    @site_option
    @click.option("--concurrency", type=int, default=None, help="Worker processes (default: worker_concurrency).")
    @click.option("--pool", type=click.Choice(["prefork", "solo", "threads"]), default="prefork", show_default=True,
                  help="Celery execution pool (solo: one task at a time in the main process).")
    @handle_errors
    def worker(config_file: str | None, site: str | None, concurrency: int | None, pool: str) -> None:
        """Run Celery workers for the notification tasks and one site's custody tasks (needs a broker). The
        custody tasks of a site read its spool: run the workers of `--site NAME` where that spool is mounted
        (default: the default site, spool_dir)."""
        from voicemail.app import build_container
        from voicemail.config import serving_site
        from workers.celery_app import QUEUE, configure, custody_queue
        from workers.runtime import install
        from workers.tasks import enqueue_custody, enqueue_finish_shred, enqueue_seal

        settings = settings_from(config_file, worker_concurrency=concurrency, site=site)
        if not settings.broker_url:
            raise ConfigError("setting broker_url (VOICEMAIL_BROKER_URL): `voicemail worker` needs a broker; "
                              "with the embedded transport `voicemail run` runs the worker itself")
        app = configure(settings)
        install(build_container(settings, on_new=enqueue_seal, on_new_batch=enqueue_custody,
                                on_shred_elsewhere=enqueue_finish_shred))
        quiet = ["--quiet"] if settings.log_format == "json" else []  # no banner between the JSON lines
        app.worker_main([*quiet, "worker", "--loglevel", settings.log_level, "--concurrency",
                         str(settings.worker_concurrency), "--pool", pool,
                         "-Q", f"{QUEUE},{custody_queue(serving_site(settings))}",
                         "--without-gossip", "--without-mingle", "--hostname", f"voicemail-{os.getpid()}@%h"])

    @main.command()
    @config_option
    @handle_errors
    def beat(config_file: str | None) -> None:
        """Run the schedule: reconciliation and the sweeper (exactly one beat per site)."""
        from workers.celery_app import configure

        settings = settings_from(config_file)
        if not settings.broker_url:
            raise ConfigError("setting broker_url (VOICEMAIL_BROKER_URL): `voicemail beat` needs a broker")
        app = configure(settings)
        schedule = Path(settings.vault_dir).parent / "celerybeat-schedule"
        app.Beat(loglevel=settings.log_level, schedule=str(schedule)).run()

    @main.command()
    @click.option("--once", is_flag=True, help="Leave the sample messages, wait until they are sealed and notified, "
                  "print the summary and exit.")
    @click.option("--dir", "base", type=click.Path(file_okay=False, path_type=Path), default=Path("voicemail-demo"),
                  show_default=True, help="Folder for the demo's database, vault, keyring, spool and outbox.")
    @click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for the pipeline.")
    @handle_errors
    def demo(once: bool, base: Path, timeout: float) -> None:
        """Run the whole flow locally (no external service) with an Asterisk stand-in."""
        from voicemail.demo import run_demo

        setup_logging(os.environ.get("VOICEMAIL_LOG_LEVEL", "WARNING"))
        sys.exit(run_demo(base.resolve(), once, timeout))

    @main.command()
    @config_option
    @site_option
    @handle_errors
    def reconcile(config_file: str | None, site: str | None) -> None:
        """Run one full reconciliation pass over the spool (of `--site NAME`) and print what it found.

        On a site the database never served whose spool holds more than first_start_backlog messages, it
        exits with status 78 and takes nothing into custody, as `voicemail run` does."""
        from voicemail.app import build_container, check_first_start
        from voicemail.services.first_start import FirstStartBacklog

        settings = settings_from(config_file, site=site)
        enqueued: list[str] = []
        on_new: Callable[[str], None] = enqueued.append
        on_new_batch: Callable[[list[str]], None] | None = None
        if settings.broker_url:
            from workers.celery_app import configure
            from workers.tasks import enqueue_custody, enqueue_seal

            configure(settings)
            on_new, on_new_batch = enqueue_seal, enqueue_custody
        container = build_container(settings, on_new=on_new, on_new_batch=on_new_batch)
        try:
            try:
                check_first_start(container)
            except FirstStartBacklog as exc:
                click.echo(backlog_text(exc, settings.site, "reconcile"), err=True)
                sys.exit(BACKLOG)
            with progress("reconciling mailboxes") as bar:
                report = container.discovery.reconcile(progress=bar)
            removed = container.collect_vault_orphans()
        finally:
            container.close()
        click.echo(f"mailboxes: {report.mailboxes}  messages seen: {report.seen}  new: {report.new}  "
                   f"problems: {len(report.problems)}")
        for problem in report.problems:
            click.echo(f"  left untouched: {problem.path}: {problem.reason}")
        for refused in report.envelopes_refused:
            click.echo(f"  envelope refused, audio in custody, caller treated as unknown: {refused.path}: "
                       f"{refused.reason}")
        if report.left_to_import:
            again = f"voicemail import --site {settings.site}" if settings.site else "voicemail import"
            click.echo(f"  left to the unfinished `{again}` run: {report.left_to_import} message(s) "
                       f"recorded before it started; run `{again}` again to finish it")
        if report.swaps_removed:
            click.echo(f"  spool: removed {report.swaps_removed} swap file(s) left by interrupted strips "
                       "(each held a sealed recording or a placeholder)")
        if report.forwards_dropped:
            click.echo(f"  forwarding: removed {report.forwards_dropped} forwarded copy(ies) Asterisk never made "
                       "(with their sealed copy; the sender was told the forward failed)")
        if removed:
            click.echo(f"  vault: removed {removed} file(s) that no record points to (left by interrupted seals)")
        if report.new and not settings.broker_url:
            click.echo("  new messages are recorded; the running `voicemail run` seals them at its next sweep")
        if state := container.store.summary():
            click.echo("  " + "  ".join(f"{k}: {v}" for k, v in sorted(state.items())))



BACKLOG = 78  # exit status (EX_CONFIG): a first start on a spool with a backlog; run `voicemail import` first


def backlog_text(exc: FirstStartBacklog, site_option: str, command: str = "run") -> str:
    """The one paragraph `voicemail run` (or `voicemail reconcile`) prints when it refuses a backlog on a
    site never served."""
    suffix = f" --site {exc.site}" if site_option else ""
    who = "voicemail" if command == "run" else f"voicemail {command}"
    return (f"{who}: not started: site {exc.site}'s spool already holds more than {exc.threshold} messages "
            "and the database has none of this site on record and no import run of it. Starting now would take "
            "custody of every one of them and e-mail each owner about each old message. Run `voicemail "
            f"import{suffix}` first (it takes custody of them without announcing them; `voicemail run{suffix}` "
            f"may start once its run is open), or start with `voicemail run{suffix} --announce-existing` to take "
            "custody of them and announce them all (first_start_backlog, VOICEMAIL_FIRST_START_BACKLOG: the "
            "threshold; 0 turns this check off). Nothing was recorded.")
