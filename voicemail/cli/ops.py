"""`voicemail doctor`: the installation checks of voicemail.ops, one line each; exit 0 only when all pass."""

from __future__ import annotations

import sys

import click

from voicemail.cli.common import config_option, settings_from
from voicemail.domain.errors import ConfigError
from voicemail.ops.checks import failed
from voicemail.ops.doctor import CHECK_NAMES, diagnose, healthy


def register(main: click.Group) -> None:
    @main.command("doctor")
    @click.option("--check", "only", multiple=True, type=click.Choice(CHECK_NAMES),
                  help="Run only this check (repeatable); the default is every check.")
    @config_option
    def doctor(only: tuple[str, ...], config_file: str | None) -> None:
        """Check the installation: settings, database migrations, broker, keyring, signing key, AMI login and
        the actions the service needs, which process holds the listener lease, spool permissions, the phone
        staging folder and the mail server.
        Prints one line per check (ok / FAIL / skip for a piece that is not configured) and exits 0 only
        when every check passes. Changes nothing and sends nothing."""
        try:
            settings = settings_from(config_file)
        except ConfigError as exc:
            click.echo(failed("config", str(exc)).line())
            sys.exit(1)
        results = diagnose(settings, only)
        for result in results:
            click.echo(result.line())
        sys.exit(0 if healthy(results) else 1)
