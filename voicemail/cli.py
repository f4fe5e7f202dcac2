"""The `voicemail` command. Thin: parse arguments, load settings, call the composition root.

Error mapping lives here, in one place: configuration and keyring problems print one line and exit 2;
other domain errors print one line and exit 1.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from voicemail import __version__
from voicemail.config import Settings, load_settings, settings_table
from voicemail.domain.errors import ConfigError, KeyringError, VoicemailError
from voicemail.domain.models import MailboxRef

F = TypeVar("F", bound=Callable[..., Any])


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def handle_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, KeyringError) as exc:
            click.echo(f"voicemail: {exc}", err=True)
            sys.exit(2)
        except VoicemailError as exc:
            click.echo(f"voicemail: {exc}", err=True)
            sys.exit(1)
    return wrapper  # type: ignore[return-value]


config_option = click.option("--config", "config_file", type=click.Path(dir_okay=False),
                             envvar="VOICEMAIL_CONFIG", help="TOML settings file (env VOICEMAIL_CONFIG).")


def settings_from(config_file: str | None, **overrides: Any) -> Settings:
    settings = load_settings(config_file, overrides=overrides)
    setup_logging(settings.log_level)
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voicemail")
def main() -> None:
    """Secure voicemail: custody of Asterisk recordings, sealed at rest, announced by e-mail."""


@main.command()
@config_option
@click.option("--no-web", is_flag=True, help="Do not serve the web app (web issue 4); by default it is served on "
              "web_host:web_port beside the listener.")
@handle_errors
def run(config_file: str | None, no_web: bool) -> None:
    """Connect to Asterisk (AMI) and run the listener. With no broker configured this also runs a
    worker and the sweeper in-process, so one command is a whole working system."""
    from voicemail.service import run_service

    settings = settings_from(config_file)
    if not settings.ami_secret:
        raise ConfigError("setting ami_secret (VOICEMAIL_AMI_SECRET): required to log in to Asterisk")
    asyncio.run(run_service(settings, web=not no_web))  # --- web (issue 4): --no-web ---


@main.command()
@config_option
@click.option("--concurrency", type=int, default=None, help="Worker processes (default: worker_concurrency).")
@click.option("--pool", type=click.Choice(["prefork", "solo", "threads"]), default="prefork", show_default=True,
              help="Celery execution pool (solo: one task at a time in the main process).")
@handle_errors
def worker(config_file: str | None, concurrency: int | None, pool: str) -> None:
    """Run Celery workers for the custody and notification tasks (needs a broker)."""
    from voicemail.app import build_container
    from workers.celery_app import configure
    from workers.runtime import install
    from workers.tasks import enqueue_seal

    settings = settings_from(config_file, worker_concurrency=concurrency)
    if not settings.broker_url:
        raise ConfigError("setting broker_url (VOICEMAIL_BROKER_URL): `voicemail worker` needs a broker; "
                          "with the embedded transport `voicemail run` runs the worker itself")
    app = configure(settings)
    install(build_container(settings, on_new=enqueue_seal))
    app.worker_main(["worker", "--loglevel", settings.log_level, "--concurrency",
                     str(settings.worker_concurrency), "--pool", pool, "-Q", "voicemail",
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
    app.Beat(loglevel=settings.log_level, schedule=str(Path(settings.vault_dir).parent / "celerybeat-schedule")).run()


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
@handle_errors
def reconcile(config_file: str | None) -> None:
    """Run one full reconciliation pass over the spool and print what it found."""
    from voicemail.app import build_container

    settings = settings_from(config_file)
    enqueued: list[str] = []
    on_new: Callable[[str], None] = enqueued.append
    if settings.broker_url:
        from workers.celery_app import configure
        from workers.tasks import enqueue_seal

        configure(settings)
        on_new = enqueue_seal
    container = build_container(settings, on_new=on_new)
    try:
        report = container.discovery.reconcile()
        removed = container.collect_vault_orphans()
    finally:
        container.close()
    click.echo(f"mailboxes: {report.mailboxes}  messages seen: {report.seen}  new: {report.new}  "
               f"problems: {len(report.problems)}")
    for problem in report.problems:
        click.echo(f"  left untouched: {problem.path}: {problem.reason}")
    if removed:
        click.echo(f"  vault: removed {removed} file(s) that no record points to (left by interrupted seals)")
    if report.new and not settings.broker_url:
        click.echo("  new messages are recorded; the running `voicemail run` seals them at its next sweep")
    if state := container.store.summary():
        click.echo("  " + "  ".join(f"{k}: {v}" for k, v in sorted(state.items())))


@main.group()
def keys() -> None:
    """Key management."""


@keys.command("init")
@config_option
@handle_errors
def keys_init(config_file: str | None) -> None:
    """Create the keyring (a 0600 file with a new key-encryption key). Refuses to overwrite one."""
    from voicemail.keys.backend import create_backend  # lifecycle (issue 6): file or PKCS#11 backend

    settings = settings_from(config_file)
    ring = create_backend(settings)
    if settings.keyring_backend == "pkcs11":  # lifecycle (issue 6)
        click.echo(f"KEK {ring.current_kek_id()} generated inside PKCS#11 token {settings.pkcs11_token_label} "
                   "(non-extractable)")
        return
    click.echo(f"keyring created at {settings.keyring} (current key {ring.current_kek_id()}); back it up "
               "somewhere safe: without it no message can be opened")


@main.group()
def message() -> None:
    """Break-glass tools for one message (whoever holds the keyring on the server)."""


@message.command("export")
@click.argument("mailbox")
@click.argument("msg_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--format", "fmt", default=None, help="Recording format (default: wav, else the first sealed).")
@click.option("--reason", required=True, help="Why the message is being exported (written to the audit trail).")
@click.option("--actor", default=None, help="Who exports (default: the operating-system account).")
@config_option
@handle_errors
def message_export(mailbox: str, msg_id: str, output: Path, fmt: str | None, reason: str, actor: str | None,
                   config_file: str | None) -> None:
    """Decrypt one message to a file, bit-identical to what Asterisk recorded (audited)."""
    from voicemail.app import build_container
    from voicemail.audit.access import Actor
    from voicemail.audit.breakglass import audited_export
    from voicemail.audit.context import cli_actor, cli_source
    from voicemail.audit.store import AuditLog

    settings = settings_from(config_file)
    ref = MailboxRef.parse(mailbox)
    container = build_container(settings, on_new=lambda _id: None)
    try:
        written, digest = audited_export(AuditLog(container.engine), container.store, container.vault,
                                         container.keyring, Actor(cli_actor(actor), cli_source()), ref, msg_id,
                                         output, fmt, reason)
    finally:
        container.close()
    logging.getLogger("voicemail.export").warning("message %s of %s exported to %s (audited)", msg_id, ref, output)
    click.echo(f"wrote {output} ({written} bytes, sha256 {digest})")


# --- notifications: list and re-send (mail backends) ----------------------------------------------
@main.group()
def notifications() -> None:
    """Notification e-mails: list them, re-send failed ones."""


def _open_store(settings: Settings) -> tuple[Any, Callable[[], None]]:
    from voicemail.db.engine import make_store_sessions
    from voicemail.db.repository import SqlMessageStore

    engine, reads, sessions, read_sessions = make_store_sessions(settings.database_url)

    def close() -> None:
        engine.dispose()
        reads.dispose()

    return SqlMessageStore(sessions, read_sessions), close


@notifications.command("list")
@click.option("--failed", is_flag=True, help="Only failed notifications and those parked as dead letters.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="At most this many.")
@config_option
@handle_errors
def notifications_list(failed: bool, limit: int, config_file: str | None) -> None:
    """List notifications, newest first: id, state, attempts, mailbox, recipient and the last error."""
    from sqlalchemy.exc import SQLAlchemyError

    settings = settings_from(config_file)
    store, close = _open_store(settings)
    try:
        rows = store.list_notifications(failed_only=failed, limit=limit)
    except SQLAlchemyError as exc:
        from voicemail.db.engine import describe_database

        raise VoicemailError(f"cannot read the database {describe_database(settings.database_url)} "
                             f"({type(exc).__name__}); has `voicemail run` created it?") from None
    finally:
        close()
    if not rows:
        click.echo("no failed notifications" if failed else "no notifications")
        return
    for row in rows:
        state = f"{row.state}+parked" if row.parked and row.state != "failed" else row.state
        click.echo(f"{row.id}  {state:<14} attempts={row.attempts:<3} {row.mailbox:<24} "
                   f"{row.recipient or '-':<32} {row.updated_at:%Y-%m-%d %H:%M:%S}")
        error = row.parked_error or row.last_error
        if error and (failed or row.state == "failed" or row.parked):
            click.echo(f"    error: {error[:300]}")
    if failed:
        click.echo("re-send one with: voicemail notifications retry ID")


@notifications.command("retry")
@click.argument("notification_id")
@config_option
@handle_errors
def notifications_retry(notification_id: str, config_file: str | None) -> None:
    """Re-send a failed (or parked) notification: back to pending, its dead letter resolved, and handed to
    the workers (with a broker) or to the running service's next sweep (embedded mode)."""
    settings = settings_from(config_file)
    store, close = _open_store(settings)
    try:
        previous = store.requeue_notification(notification_id, due_now=not settings.broker_url)
    finally:
        close()
    if settings.broker_url:
        from workers.celery_app import configure
        from workers.tasks import send_notification

        configure(settings)
        try:
            send_notification.delay(notification_id)
        except Exception as exc:  # broker down: the state is pending already, the sweeper re-enqueues it
            click.echo(f"notification {notification_id} ({previous}) is pending again; the broker is unreachable "
                       f"({type(exc).__name__}), so the sweeper re-enqueues it within about "
                       f"{settings.stale_after + settings.sweep_interval:g} s")
            return
        click.echo(f"notification {notification_id} ({previous}) is pending again and was handed to the workers")
    else:
        click.echo(f"notification {notification_id} ({previous}) is pending again; the running `voicemail run` "
                   f"sends it at its next sweep (within about {settings.sweep_interval:g} s)")


@main.group()
def config() -> None:
    """Inspect settings."""


@config.command("show")
@config_option
@handle_errors
def config_show(config_file: str | None) -> None:
    """Print the effective settings (secrets masked)."""
    for key, value in load_settings(config_file).redacted().items():
        click.echo(f"{key} = {value!r}")


@config.command("table")
def config_table() -> None:
    """Print the configuration table in Markdown (for the README)."""
    click.echo(settings_table())


# --- directory (LDAP) ----------------------------------------------------------------------------
@main.group()
def directory() -> None:
    """The directory of internal users (Active Directory / LDAP, synced into the database)."""


@directory.command("sync")
@config_option
@click.option("--full", is_flag=True, help="Fetch every user (default: only the changes since the last sync, "
              "unless a full sync is due).")
@handle_errors
def directory_sync(config_file: str | None, full: bool) -> None:
    """Synchronise users from LDAP into the database and print what changed."""
    from voicemail.db.engine import make_engine
    from voicemail.db.migrate import upgrade
    from voicemail.directory.operations import estimated_users, run_sync

    settings = settings_from(config_file)
    if not settings.ldap_url:
        raise ConfigError("setting ldap_url (VOICEMAIL_LDAP_URL): no directory server configured")
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        with click.progressbar(length=max(estimated_users(settings, engine), 1), label="directory sync",
                               show_pos=True, file=sys.stderr) as bar:
            summary = run_sync(settings, full=full, engine=engine, progress=bar.update, migrate=False)
    finally:
        engine.dispose()
    click.echo(summary.line() + (f" (full: {summary.reason})" if summary.reason else ""))


@directory.command("status")
@config_option
@handle_errors
def directory_status(config_file: str | None) -> None:
    """Show the synced directory: users, last syncs, whether it is trusted now."""
    import datetime as dt

    from voicemail.directory.operations import status

    settings = settings_from(config_file)
    for line in status(settings).lines(dt.datetime.now(dt.UTC)):
        click.echo(line)


# --- audit trail, roles, cases, holds, evidence, CDR release (issue 5): voicemail/cli_audit.py ------------
from voicemail.cli_audit import register as _register_audit  # noqa: E402

_register_audit(main)

# --- web (issue 4): `voicemail web` and `voicemail accounts …` in voicemail/cli_web.py ---
from voicemail.cli_web import register as _register_web  # noqa: E402

_register_web(main, config_option, handle_errors, settings_from)

# --- sign-in methods (issue 4): `voicemail accounts map-cert|map-oidc|identities|unmap` in voicemail/cli_signin.py ---
from voicemail.cli_signin import register as _register_signin  # noqa: E402

_register_signin(main)

# --- lifecycle (issue 6): `voicemail keys rotate|rewrap|retire|status|fips`, `retention …`, `quota …` ---
from voicemail.cli_lifecycle import register as _register_lifecycle  # noqa: E402

_register_lifecycle(main)


if __name__ == "__main__":
    main()
