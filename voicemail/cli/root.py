"""The `voicemail` command group, with every command group registered on it (one module each)."""

from __future__ import annotations

import click

from voicemail import __version__
from voicemail.cli import (
    audit,
    cases,
    config,
    directory,
    keys,
    lifecycle,
    messages,
    notifications,
    ops,
    outlook,
    phone,
    service,
    signin,
    spool_import,
    web,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voicemail")
def main() -> None:
    """Secure voicemail: custody of Asterisk recordings, sealed at rest, announced by e-mail."""



# Order matters where a module adds commands to another's group: keys before audit and lifecycle,
# web (which creates `accounts`) before signin.
for _module in (service, keys, messages, notifications, config, directory, audit, cases, web, signin, lifecycle,
                ops, phone, outlook, spool_import):
    _module.register(main)
