"""`voicemail messages list | export`: find messages (metadata only) and the break-glass export of one.
(`messages pending | retry`, custody not done and retrying it: voicemail/cli/custody.py.)

`voicemail message export MAILBOX MSG_ID` stays as a hidden alias of `messages export`.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import click

from voicemail.cli.common import config_option, handle_errors, settings_from
from voicemail.domain.errors import InvalidInput, VoicemailError
from voicemail.domain.models import MailboxRef

STATES = ("discovered", "sealed", "stripped", "rejected", "vanished", "deleted", "destroyed")


def _local(when: dt.datetime) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S %z")


def register(main: click.Group) -> None:
    @main.group()
    def messages() -> None:
        """Messages in custody: find them, export one (break-glass, audited)."""

    @messages.command("list")
    @click.option("--mailbox", default=None, help="Only this mailbox, e.g. 1001@default (another site: "
                  "1001@default@SITE).")
    @click.option("--state", type=click.Choice(STATES), default=None, help="Only messages in this custody state.")
    @click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True, help="At most this many.")
    @config_option
    @handle_errors
    def messages_list(mailbox: str | None, state: str | None, limit: int, config_file: str | None) -> None:
        """List messages, newest first: our id, mailbox, Asterisk's msg_id, folder, custody state, caller kind
        (never an outside caller's name or number), length and when it was recorded (local time)."""
        from sqlalchemy.exc import SQLAlchemyError

        from voicemail.db.engine import make_engine, make_sessionmaker
        from voicemail.db.message_listing import list_messages

        settings = settings_from(config_file)
        engine = make_engine(settings.database_url, autocommit=True)
        try:
            rows = list_messages(make_sessionmaker(engine), mailbox=MailboxRef.parse(mailbox) if mailbox else None,
                                 state=state, limit=limit, default_site=settings.site_name)
        except SQLAlchemyError as exc:
            raise VoicemailError(f"cannot read the database {engine.url.render_as_string(hide_password=True)} "
                                 f"({type(exc).__name__}); has `voicemail run` created it?") from None
        finally:
            engine.dispose()
        if not rows:
            click.echo("no messages")
            return
        click.echo(f"{'ID':<36}  {'MAILBOX':<20} {'MSG_ID':<24} {'FOLDER':<6} {'STATE':<10} {'CALLER':<8} "
                   f"{'SECS':>5}  RECORDED")
        for r in rows:
            urgent = " urgent" if r.urgent else ""
            click.echo(f"{r.id:<36}  {r.mailbox:<20} {r.msg_id:<24} {r.folder:<6} {r.state:<10} {r.caller_kind:<8} "
                       f"{r.duration:>5}  {_local(r.received_at)}{urgent}")

    def export(args: tuple[str, ...], output: Path, fmt: str | None, reason: str, actor: str | None,
               config_file: str | None) -> None:
        from voicemail.app import build_container
        from voicemail.audit.access import Actor
        from voicemail.audit.breakglass import audited_export
        from voicemail.audit.context import cli_actor, cli_source
        from voicemail.audit.store import AuditLog

        if len(args) not in (1, 2):
            raise InvalidInput("give our message id, or a mailbox and Asterisk's msg_id")
        ref = MailboxRef.parse(args[0]) if len(args) == 2 else None
        msg_id = args[-1]
        settings = settings_from(config_file)
        container = build_container(settings, on_new=lambda _id: None)
        try:
            written, digest = audited_export(AuditLog(container.engine), container.store, container.vault,
                                             container.keyring, Actor(cli_actor(actor), cli_source()), ref, msg_id,
                                             output, fmt, reason)
        finally:
            container.close()
        logging.getLogger("voicemail.export").warning("message %s exported to %s (audited)", msg_id[:64], output)
        click.echo(f"wrote {output} ({written} bytes, sha256 {digest})")

    export_options = [
        click.argument("ids", nargs=-1, required=True, metavar="[MAILBOX] ID"),
        click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True),
        click.option("--format", "fmt", default=None, help="Recording format (default: wav, else the first sealed)."),
        click.option("--reason", required=True, help="Why the message is being exported (written to the audit trail)."),
        click.option("--actor", default=None, help="Who exports (default: the operating-system account)."),
        config_option,
        handle_errors,
    ]

    def with_export_options(name: str, group: click.Group) -> None:
        def body(ids: tuple[str, ...], output: Path, fmt: str | None, reason: str, actor: str | None,
                 config_file: str | None) -> None:
            """Decrypt one message to a file, bit-identical to what Asterisk recorded (audited). ID is our
            message id (as in the web inbox, the e-mail, the audit trail and `messages list`); or give
            MAILBOX and Asterisk's msg_id."""
            export(ids, output, fmt, reason, actor, config_file)

        for option in reversed(export_options):
            body = option(body)
        group.command(name)(body)

    with_export_options("export", messages)

    from voicemail.cli.custody import add_commands

    add_commands(messages)  # `messages pending`, `messages retry`

    @main.group(hidden=True)
    def message() -> None:
        """Alias of `voicemail messages` (export only)."""

    with_export_options("export", message)
