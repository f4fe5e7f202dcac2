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
from voicemail.domain.errors import ConfigError, KeyringError, NotFound, VoicemailError
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
@handle_errors
def run(config_file: str | None) -> None:
    """Connect to Asterisk (AMI) and run the listener. With no broker configured this also runs a
    worker and the sweeper in-process, so one command is a whole working system."""
    from voicemail.service import run_service

    settings = settings_from(config_file)
    if not settings.ami_secret:
        raise ConfigError("setting ami_secret (VOICEMAIL_AMI_SECRET): required to log in to Asterisk")
    asyncio.run(run_service(settings))


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
    from voicemail.vault import FileKeyring

    settings = settings_from(config_file)
    ring = FileKeyring.create(Path(settings.keyring))
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
@click.option("--reason", default="", help="Why the message is being exported (recorded in the log).")
@config_option
@handle_errors
def message_export(mailbox: str, msg_id: str, output: Path, fmt: str | None, reason: str,
                   config_file: str | None) -> None:
    """Decrypt one message to a file, bit-identical to what Asterisk recorded."""
    from voicemail.app import build_container
    from voicemail.services.export import export_recording

    settings = settings_from(config_file)
    ref = MailboxRef.parse(mailbox)
    container = build_container(settings, on_new=lambda _id: None)
    try:
        record = container.store.find(ref, msg_id)
        if record is None:
            raise NotFound(f"no sealed message {msg_id} in mailbox {ref}")
        written, digest = export_recording(container.vault, container.keyring, record, output, fmt)
    finally:
        container.close()
    logging.getLogger("voicemail.export").warning(
        "message %s of %s exported to %s (reason: %s)", record.id, ref, output, reason or "none given")
    click.echo(f"wrote {output} ({written} bytes, sha256 {digest})")


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


if __name__ == "__main__":
    main()
