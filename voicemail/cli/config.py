"""`voicemail config show | table`: the effective settings, and the README's configuration table."""

from __future__ import annotations

import click

from voicemail.cli.common import config_option, handle_errors
from voicemail.config import load_settings_with_origins, settings_table
from voicemail.toml_text import toml_value


def register(main: click.Group) -> None:
    @main.group()
    def config() -> None:
        """Inspect settings."""

    @config.command("show")
    @config_option
    @handle_errors
    def config_show(config_file: str | None) -> None:
        """Print the effective settings as TOML, each with where its value came from (default, the
        file, an environment variable or the command line). Secrets are masked."""
        settings, origins = load_settings_with_origins(config_file)
        click.echo("# effective settings of `voicemail`; the comment after each says where the value came from")
        click.echo("[voicemail]")
        for key, value in settings.redacted().items():
            masked = value == "********" and origins[key] != "default"
            click.echo(f"{key} = {toml_value(value)}  # {origins[key]}" + (" (secret, masked)" if masked else ""))

    @config.command("table")
    def config_table() -> None:
        """Print the configuration table in Markdown (for the README)."""
        click.echo(settings_table())
