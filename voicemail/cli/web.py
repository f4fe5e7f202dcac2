"""`voicemail web` (serve the web app) and `voicemail accounts …` (local web accounts).

Registered on the main group by voicemail/cli/root.py (one line). Passwords come from a prompt or from
standard input (--password-stdin), never from the command line. Every change is audited with the
operating-system account as actor and cli:<account>@<host> as source.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from voicemail.audit.chain import AuditEvent
from voicemail.audit.context import cli_actor, cli_source
from voicemail.cli.common import config_option, handle_errors, settings_from
from voicemail.config import Settings
from voicemail.domain.models import MailboxRef
from voicemail.web.accounts_store import AccountStore


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return value


@contextmanager
def _accounts(settings: Settings, *, keyring: bool = False) -> Iterator[tuple[AccountStore, Callable[..., None]]]:
    from voicemail.app import open_keyring
    from voicemail.audit.store import AuditLog
    from voicemail.db.engine import make_engine
    from voicemail.db.migrate import upgrade

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine, settings.site_name)
        store = AccountStore(engine, open_keyring(settings) if keyring else None)
        log = AuditLog(engine)

        def audit(action: str, username: str, **details: object) -> None:
            log.append(AuditEvent(actor=cli_actor(), action=action, source=cli_source(),
                                  details={"account": username, **details}))

        yield store, audit
    finally:
        engine.dispose()


def register(main: click.Group) -> click.Group:
    @main.command("web")
    @config_option
    @handle_errors
    def web(config_file: str | None) -> None:
        """Serve the web inbox and REST API (VOICEMAIL_WEB_HOST / VOICEMAIL_WEB_PORT) until stopped."""
        from voicemail.web.server import serve

        serve(settings_from(config_file))

    @main.group("accounts")
    def accounts() -> None:
        """Local web accounts: passwords (argon2id), TOTP, roles, mailboxes."""

    @accounts.command("add")
    @click.argument("username")
    @click.option("--mailbox", "mailboxes", multiple=True, help="Mailbox the account owns, e.g. 1001@default, "
                  "or 1001@default@SITE on a site other than the default one (repeatable).")
    @click.option("--number", "numbers", multiple=True, help="Phone number / extension of the person, for call "
                  "history (repeatable).")
    @click.option("--role", "roles", multiple=True, type=click.Choice(["owner", "administrator"]),
                  help="Role (repeatable; default owner).")
    @click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
    @click.option("--no-password", is_flag=True, help="No password sign-in (PIV / OIDC only).")
    @config_option
    @handle_errors
    def accounts_add(username: str, mailboxes: tuple[str, ...], numbers: tuple[str, ...], roles: tuple[str, ...],
                     password_stdin: bool, no_password: bool, config_file: str | None) -> None:
        """Create a web account."""
        settings = settings_from(config_file)
        refs = [MailboxRef.parse(m) for m in mailboxes]
        password = None if no_password else _read_password(password_stdin)
        with _accounts(settings) as (store, audit):
            account = store.add(username, roles=roles or ("owner",), mailboxes=refs, numbers=numbers,
                                password=password)
            audit("account.create", account.username, roles=sorted(account.roles),
                  mailboxes=[m.qualified for m in account.mailboxes])
        click.echo(f"created web account {account.username}")

    @accounts.command("passwd")
    @click.argument("username")
    @click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
    @config_option
    @handle_errors
    def accounts_passwd(username: str, password_stdin: bool, config_file: str | None) -> None:
        """Set a new password (ends the account's sessions, clears a lockout)."""
        settings = settings_from(config_file)
        with _accounts(settings) as (store, audit):
            account = store.require(username)
            store.set_password(account.id, _read_password(password_stdin))
            from voicemail.web.sessions_store import SessionStore

            ended = SessionStore(store.engine, settings.web_session_idle,
                                 settings.web_session_absolute).destroy_account(account.id)
            audit("account.password", account.username, sessions_ended=ended)
        click.echo(f"password of {username} changed")

    @accounts.group("totp")
    def totp() -> None:
        """One-time codes (authenticator app) as a second sign-in factor."""

    @totp.command("enable")
    @click.argument("username")
    @config_option
    @handle_errors
    def totp_enable(username: str, config_file: str | None) -> None:
        """Make a new TOTP secret (stored wrapped by the keyring) and print its otpauth:// URI once."""
        settings = settings_from(config_file)
        with _accounts(settings, keyring=True) as (store, audit):
            account = store.require(username)
            uri = store.enable_totp(account.id)
            audit("account.totp", account.username, enabled=True)
        click.echo("Add this to the authenticator app now; it is not shown again:", err=True)
        click.echo(uri)

    @totp.command("disable")
    @click.argument("username")
    @config_option
    @handle_errors
    def totp_disable(username: str, config_file: str | None) -> None:
        """Turn TOTP off for an account (its secret is deleted)."""
        settings = settings_from(config_file)
        with _accounts(settings) as (store, audit):
            account = store.require(username)
            store.disable_totp(account.id)
            audit("account.totp", account.username, enabled=False)
        click.echo(f"TOTP off for {username}")

    @accounts.command("list")
    @config_option
    @handle_errors
    def accounts_list(config_file: str | None) -> None:
        """List web accounts (no secrets)."""
        import time

        settings = settings_from(config_file)
        with _accounts(settings) as (store, _audit):
            rows = store.all()
        now = time.time()
        click.echo(f"{'user':<24} {'roles':<22} {'totp':<5} {'state':<8} mailboxes")
        for a in rows:
            state = "disabled" if a.disabled else "locked" if a.locked(now) else "ok"
            boxes = ",".join(m.qualified for m in a.mailboxes)
            click.echo(f"{a.username:<24} {','.join(sorted(a.roles)):<22} {'on' if a.totp_enabled else 'off':<5} "
                       f"{state:<8} {boxes}")

    @accounts.command("unlock")
    @click.argument("username")
    @config_option
    @handle_errors
    def accounts_unlock(username: str, config_file: str | None) -> None:
        """End a lockout after failed sign-ins."""
        settings = settings_from(config_file)
        with _accounts(settings) as (store, audit):
            account = store.require(username)
            store.unlock(account.id)
            audit("account.unlock", account.username)
        click.echo(f"{username} unlocked")

    @accounts.command("disable")
    @click.argument("username")
    @config_option
    @handle_errors
    def accounts_disable(username: str, config_file: str | None) -> None:
        """Refuse every sign-in of an account (password, PIV, OIDC) and end its sessions."""
        settings = settings_from(config_file)
        with _accounts(settings) as (store, audit):
            account = store.require(username)
            store.set_disabled(account.id, True)
            from voicemail.web.sessions_store import SessionStore

            ended = SessionStore(store.engine, settings.web_session_idle,
                                 settings.web_session_absolute).destroy_account(account.id)
            audit("account.disable", account.username, sessions_ended=ended)
        click.echo(f"{username} disabled")

    @accounts.command("enable")
    @click.argument("username")
    @config_option
    @handle_errors
    def accounts_enable(username: str, config_file: str | None) -> None:
        """Allow a disabled account to sign in again."""
        settings = settings_from(config_file)
        with _accounts(settings) as (store, audit):
            account = store.require(username)
            store.set_disabled(account.id, False)
            audit("account.enable", account.username)
        click.echo(f"{username} enabled")

    return accounts
