"""`voicemail phone …`: the telephone menu's PINs.

* ``import-pins FILE`` hashes every mailbox password of a voicemail.conf into the database and lists the
  weak ones (trivial or short) so that their owners can be asked to change them;
* ``pin set MAILBOX`` sets a PIN read from standard input (never from the command line);
* ``unlock MAILBOX`` lifts a lockout after repeated wrong PINs.

``--site NAME`` names the Asterisk the mailboxes are on (default: the default site); each site's mailbox
has its own PIN.

Every change is audited with the operating-system account as actor and cli:<account>@<host> as source.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from voicemail.audit.context import cli_actor, cli_source
from voicemail.cli.common import config_option, handle_errors, settings_from
from voicemail.config import Settings, site_names
from voicemail.domain.errors import InvalidInput
from voicemail.domain.models import MailboxRef
from voicemail.services.phone_pins import PinService


@contextmanager
def _pins(settings: Settings) -> Iterator[PinService]:
    from voicemail.audit.store import AuditLog
    from voicemail.db.engine import make_engine
    from voicemail.db.migrate import upgrade
    from voicemail.phone.wiring import pin_service

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine, settings.site_name)
        yield pin_service(settings, engine, AuditLog(engine))
    finally:
        engine.dispose()


def _site(name: str | None, settings: Settings) -> str:
    """The site of ``--site NAME`` as a MailboxRef names it (empty: the default site)."""
    if name is None or name == settings.site_name:
        return ""
    if name not in site_names(settings):
        raise InvalidInput(f"unknown site {name[:64]!r}; configured sites are {', '.join(site_names(settings))}")
    return name


def _mailbox(text: str, settings: Settings, site: str | None = None) -> MailboxRef:
    ref = MailboxRef.parse(text, settings.phone_default_context)
    return ref.on_site(_site(site, settings)) if site is not None else ref


site_choice = click.option("--site", default=None, metavar="NAME",
                           help="The site (Asterisk) of the mailboxes: site_name or a [[sites]] name "
                           "(default: the default site).")


def register(main: click.Group) -> None:
    @main.group()
    def phone() -> None:
        """The telephone menu: PINs, lockouts."""

    @phone.command("import-pins")
    @click.argument("conf", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @config_option
    @site_choice
    @handle_errors
    def import_pins(conf: Path, config_file: str | None, site: str | None) -> None:
        """Import the mailbox passwords of Asterisk's voicemail.conf (CONF) as phone PINs (hashed), for the
        mailboxes of that Asterisk's site (--site; default: the default site)."""
        settings = settings_from(config_file)
        ref_site = _site(site, settings)
        try:
            text = conf.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise InvalidInput(f"cannot read {conf}: {exc.strerror}") from None
        with _pins(settings) as pins:
            report = pins.import_conf(text, actor=cli_actor(), source=cli_source(), site=ref_site)
        click.echo(f"imported {len(report.imported)} PIN(s)")
        for ref, why in report.weak:
            click.echo(f"weak: {ref.qualified}: {why}; ask the owner to choose another")
        for problem in report.problems:
            click.echo(f"skipped line {problem.line}: {problem.why}", err=True)

    @phone.group("pin")
    def pin() -> None:
        """One mailbox's PIN."""

    @pin.command("set")
    @click.argument("mailbox")
    @config_option
    @site_choice
    @handle_errors
    def pin_set(mailbox: str, config_file: str | None, site: str | None) -> None:
        """Set MAILBOX's (box or box@context, on the site --site) PIN to the digits read from standard input."""
        settings = settings_from(config_file)
        ref = _mailbox(mailbox, settings, site)
        if sys.stdin.isatty():
            value: str = click.prompt("PIN", hide_input=True, confirmation_prompt=True, err=True)
        else:
            value = sys.stdin.readline().strip()
        with _pins(settings) as pins:
            pins.set_pin(ref, value, actor=cli_actor(), source=cli_source())
        click.echo(f"PIN of {ref.qualified} set")

    @phone.command("unlock")
    @click.argument("mailbox")
    @config_option
    @site_choice
    @handle_errors
    def unlock(mailbox: str, config_file: str | None, site: str | None) -> None:
        """Lift MAILBOX's lockout after wrong PINs (the failure count starts again)."""
        settings = settings_from(config_file)
        ref = _mailbox(mailbox, settings, site)
        with _pins(settings) as pins:
            if not pins.unlock(ref, actor=cli_actor(), source=cli_source()):
                raise InvalidInput(f"mailbox {ref.qualified} has no phone PIN")
        click.echo(f"{ref.qualified} unlocked")
