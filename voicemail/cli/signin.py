"""`voicemail accounts map-cert | map-oidc | identities | unmap`: link PIV/CAC certificates and OIDC
subjects to web accounts (voicemail.web.signin_identities). Every change is audited.

Registered by voicemail/cli/root.py (one line, after the web commands: ``register(main)``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from voicemail.audit.chain import AuditEvent
from voicemail.audit.context import cli_actor, cli_source
from voicemail.config import Settings
from voicemail.domain.errors import ConfigError, InvalidInput

KEY_CHOICES = ("sha256", "upn", "fascn", "uuid")


def _run(config_file: str | None, body: Callable[[Settings, Any], None]) -> None:
    from voicemail.audit.store import AuditLog
    from voicemail.cli.common import settings_from
    from voicemail.db.engine import make_engine
    from voicemail.db.migrate import upgrade

    settings = settings_from(config_file)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine, settings.site_name)
        body(settings, (engine, AuditLog(engine)))
    finally:
        engine.dispose()


def _audit(log: Any, actor: str, action: str, username: str, **details: str) -> None:
    log.append(AuditEvent(actor=actor, action=action, source=cli_source(), details={"account": username,
                                                                                       **details}))


def cert_key(settings: Settings, cert_file: str, by: str) -> tuple[str, str]:
    """(identity key, label) of a certificate file; checked against web_client_ca_file when it is set."""
    from voicemail.web.piv_cert import CertificateRefused, IssuerStore, parse_certificate

    try:
        cert = parse_certificate(Path(cert_file).read_bytes())
    except OSError as exc:
        raise InvalidInput(f"cannot read {cert_file}: {exc.strerror}") from None
    except CertificateRefused:
        raise InvalidInput(f"{cert_file} is not a PEM or DER certificate") from None
    if settings.web_client_ca_file:
        try:
            keys = IssuerStore.from_file(settings.web_client_ca_file).check(cert).keys
        except OSError as exc:
            raise ConfigError(f"setting web_client_ca_file: cannot read {settings.web_client_ca_file}: "
                              f"{exc.strerror}") from None
        except CertificateRefused as exc:
            raise InvalidInput(f"this certificate could not sign in: {exc.code} ({exc}); nothing recorded") from None
    else:
        from voicemail.web.piv_cert import identity_keys

        click.echo("voicemail: warning: web_client_ca_file is not set; the certificate's issuer was not checked",
                   err=True)
        keys = tuple(identity_keys(cert))
    chosen = [k for k in keys if k.startswith(by + ":")]
    if not chosen:
        raise InvalidInput(f"the certificate has no {by} identity (it has: {', '.join(k.split(':')[0] for k in keys)})")
    return chosen[0], cert.subject.rfc4514_string()[:200]


def register(main: click.Group) -> None:
    """Adds the commands to ``voicemail accounts`` (made by cli/web.py, which must run first)."""
    from voicemail.cli.common import config_option, handle_errors

    accounts = main.commands.get("accounts")
    if not isinstance(accounts, click.Group):
        raise RuntimeError("register the `voicemail accounts` group (voicemail/cli/web.py) before the sign-in commands")

    @accounts.command("map-cert")
    @config_option
    @click.argument("username")
    @click.option("--cert", "cert_file", required=True, type=click.Path(dir_okay=False),
                  help="The person's PIV/CAC authentication certificate (PEM or DER).")
    @click.option("--by", type=click.Choice(KEY_CHOICES), default="sha256", show_default=True,
                  help="What identifies the card: sha256 (this certificate only), upn (the UPN in the "
                       "certificate; survives re-issue), fascn or uuid (PIV card identifiers).")
    @click.option("--actor", default=None, help="Who acts (default: the operating-system account).")
    @handle_errors
    def map_cert(config_file: str | None, username: str, cert_file: str, by: str, actor: str | None) -> None:
        """Let USERNAME sign in with a smart-card certificate."""
        def body(settings: Settings, ctx: Any) -> None:
            from voicemail.web.signin_identities import IdentityStore

            engine, log = ctx
            key, label = cert_key(settings, cert_file, by)
            IdentityStore(engine).map("piv", key, username, label=label, actor=cli_actor(actor))
            _audit(log, cli_actor(actor), "signin.map", username, kind="piv", key=key)
            click.echo(f"{username}: piv {key}")
        _run(config_file, body)

    @accounts.command("map-oidc")
    @config_option
    @click.argument("username")
    @click.option("--subject", required=True, help="Value of oidc_account_claim (e.g. the sub) at the provider.")
    @click.option("--issuer", default=None, help="Provider issuer URL (default: oidc_issuer).")
    @click.option("--actor", default=None, help="Who acts (default: the operating-system account).")
    @handle_errors
    def map_oidc(config_file: str | None, username: str, subject: str, issuer: str | None,
                 actor: str | None) -> None:
        """Let USERNAME sign in through the OIDC identity provider as SUBJECT."""
        def body(settings: Settings, ctx: Any) -> None:
            from voicemail.web.signin_identities import IdentityStore, oidc_key

            engine, log = ctx
            where = issuer or settings.oidc_issuer
            if not where:
                raise ConfigError("setting oidc_issuer (VOICEMAIL_OIDC_ISSUER): required (or pass --issuer)")
            if not subject.strip():
                raise InvalidInput("--subject must not be empty")
            key = oidc_key(where, subject.strip())
            IdentityStore(engine).map("oidc", key, username, label=settings.oidc_account_claim,
                                      actor=cli_actor(actor))
            _audit(log, cli_actor(actor), "signin.map", username, kind="oidc", key=key)
            click.echo(f"{username}: oidc {key}")
        _run(config_file, body)

    @accounts.command("identities")
    @config_option
    @click.argument("username", required=False)
    @handle_errors
    def identities(config_file: str | None, username: str | None) -> None:
        """List the certificates and OIDC subjects linked to accounts (of USERNAME only, if given)."""
        def body(settings: Settings, ctx: Any) -> None:
            from voicemail.web.signin_identities import IdentityStore

            for row in IdentityStore(ctx[0]).list(username):
                click.echo(f"{row.username}\t{row.kind}\t{row.key}\t{row.label}")
        _run(config_file, body)

    @accounts.command("unmap")
    @config_option
    @click.argument("kind", type=click.Choice(("piv", "oidc")))
    @click.argument("key")
    @click.option("--actor", default=None, help="Who acts (default: the operating-system account).")
    @handle_errors
    def unmap(config_file: str | None, kind: str, key: str, actor: str | None) -> None:
        """Remove one link (KEY as `voicemail accounts identities` prints it)."""
        def body(settings: Settings, ctx: Any) -> None:
            from voicemail.web.signin_identities import IdentityStore

            engine, log = ctx
            if not IdentityStore(engine).unmap(kind, key):
                click.echo(f"voicemail: no {kind} identity {key[:80]!r}", err=True)
                sys.exit(1)
            _audit(log, cli_actor(actor), "signin.unmap", "", kind=kind, key=key)
            click.echo(f"removed {kind} {key}")
        _run(config_file, body)
