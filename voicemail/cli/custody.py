"""`voicemail messages pending | retry`: messages whose custody is not done, and retrying a parked one.

`pending` shows what is waiting (a seal retrying after a full vault volume, a database outage) or parked
as dead letter (a recording that kept killing its worker, a permanent error), with the error; `retry ID`
gives a message's custody another go once the cause is fixed (voicemail.services.message_retry).
"""

from __future__ import annotations

import click

from voicemail.cli.common import config_option, handle_errors, settings_from
from voicemail.domain.errors import VoicemailError


def add_commands(messages: click.Group) -> None:
    @messages.command("pending")
    @click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="At most this many.")
    @config_option
    @handle_errors
    def messages_pending(limit: int, config_file: str | None) -> None:
        """List messages whose custody is not done, oldest first: our id, mailbox, state (discovered = the
        recording is still plaintext in the spool), failed attempts, PARKED when it waits for an
        administrator, and the last error (never caller data)."""
        from sqlalchemy.exc import SQLAlchemyError

        from voicemail.cli.notifications import _open_store

        settings = settings_from(config_file)
        store, close = _open_store(settings)
        try:
            rows = store.pending_custody(limit)
        except SQLAlchemyError as exc:
            raise VoicemailError(f"cannot read the database ({type(exc).__name__}); has `voicemail run` "
                                 "created it?") from None
        finally:
            close()
        if not rows:
            click.echo("no message is waiting for custody")
            return
        click.echo(f"{'ID':<36}  {'MAILBOX':<20} {'STATE':<10} {'ATTEMPTS':>8}  STATUS")
        for message_id, mailbox, state, attempts, error, parked in rows:
            click.echo(f"{message_id:<36}  {mailbox:<20} {state:<10} {attempts:>8}  "
                       f"{'PARKED' if parked else 'retrying' if error else 'in progress'}")
            if error:
                click.echo(f"    error: {error[:300]}")
        if any(parked for *_, parked in rows):
            click.echo("retry a parked one, once its cause is fixed, with: voicemail messages retry ID")

    @messages.command("retry")
    @click.argument("message_id")
    @config_option
    @handle_errors
    def messages_retry(message_id: str, config_file: str | None) -> None:
        """Give a parked (or failing) message's custody another go: its dead letter resolved, its crash count
        cleared, and handed to the workers (with a broker) or to the running service's next sweep."""
        from voicemail.cli.notifications import _open_store
        from voicemail.services.message_retry import retry_message

        settings = settings_from(config_file)
        store, close = _open_store(settings)
        enqueue = None
        if settings.broker_url:
            from workers.celery_app import configure
            from workers.tasks import enqueue_seal

            configure(settings)
            enqueue = enqueue_seal
        try:
            state = retry_message(store, message_id, enqueue)
        finally:
            close()
        where = ("handed to the workers (or, if the broker is down, to the sweeper)" if enqueue is not None
                 else f"taken by the running `voicemail run` at its next sweep (within about "
                      f"{settings.sweep_interval:g} s)")
        click.echo(f"message {message_id} ({state}) is due again: {where}")
