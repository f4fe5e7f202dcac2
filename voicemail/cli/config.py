"""`voicemail config show | table`: the effective settings, and the README's configuration table."""

from __future__ import annotations

import click

from voicemail.cli.common import config_option, handle_errors
from voicemail.config import load_settings, settings_table


def register(main: click.Group) -> None:
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


