"""`voicemail message export`: break-glass decryption of one message to a file (audited)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from voicemail.cli.common import config_option, handle_errors, settings_from
from voicemail.domain.models import MailboxRef


def register(main: click.Group) -> None:
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

