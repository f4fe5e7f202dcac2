"""`voicemail notifications list | retry`: the notification e-mails, and re-sending failed ones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import click

from voicemail.cli.common import config_option, handle_errors, settings_from
from voicemail.config import Settings
from voicemail.domain.errors import VoicemailError


def _open_store(settings: Settings) -> tuple[Any, Callable[[], None]]:
    from voicemail.db.engine import make_store_sessions
    from voicemail.db.repository import SqlMessageStore

    engine, reads, sessions, read_sessions = make_store_sessions(settings.database_url)

    def close() -> None:
        engine.dispose()
        reads.dispose()

    return SqlMessageStore(sessions, read_sessions, default_site=settings.site_name), close


def _aware(when: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; the database stores UTC."""
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def register(main: click.Group) -> None:
    @main.group()
    def notifications() -> None:
        """Notification e-mails: list them, re-send failed ones."""

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
        click.echo(f"{'ID':<36}  {'STATE':<14} {'TRIES':>5}  {'MAILBOX':<24} {'RECIPIENT':<32} UPDATED (local time)")
        for row in rows:
            state = f"{row.state}+parked" if row.parked and row.state != "failed" else row.state
            updated = _aware(row.updated_at).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
            click.echo(f"{row.id:<36}  {state:<14} {row.attempts:>5}  {row.mailbox:<24} "
                       f"{row.recipient or '-':<32} {updated}")
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

