"""`voicemail directory sync | status`: the directory of internal users (LDAP, synced into the database)."""

from __future__ import annotations

import sys

import click

from voicemail.cli.common import config_option, handle_errors, settings_from
from voicemail.domain.errors import ConfigError


def register(main: click.Group) -> None:
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
            upgrade(engine, settings.site_name)
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

