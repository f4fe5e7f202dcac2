"""Builds the web app's collaborators from the composition root (voicemail.app.Container + Settings)."""

from __future__ import annotations

import ssl
from collections.abc import Callable

from fastapi import FastAPI

from voicemail.app import Container, tls_context
from voicemail.audit.service import Investigations
from voicemail.audit.store import AuditLog
from voicemail.config import Settings
from voicemail.db.mailbox_changes import SqlMailboxChanges
from voicemail.domain.errors import ConfigError
from voicemail.observe.observer import build_observer
from voicemail.observe.runtime import RuntimeStatus
from voicemail.phone.hotdesk_store import SqlHotdeskStore
from voicemail.web.accounts_store import AccountStore
from voicemail.web.app import create_app
from voicemail.web.deps import Probe, WebDeps, WebSettings
from voicemail.web.new_message_feed import NewMessageFeed
from voicemail.web.oidc_client import OidcClient
from voicemail.web.outlook_pane import SsoExchange, outlook_router
from voicemail.web.ratelimit import RateLimiter
from voicemail.web.routes_operations import operations_router
from voicemail.web.sessions_store import SessionStore
from voicemail.web.signin_identities import IdentityStore
from voicemail.web.signin_methods import piv_enabled, signin_method_routers
from voicemail.web.status import (
    ami_banner_probe,
    ami_connected_probe,
    broker_probe,
    database_probe,
    vault_probe,
)


def build_web_deps(container: Container, *, ami_connected: Callable[[], bool] | None = None,
                   runtime: RuntimeStatus | None = None) -> WebDeps:
    """``ami_connected``: the listener's own AMI connection state (`voicemail run`); without it the /status
    probe checks that Asterisk answers on the AMI port (`voicemail web` alone). ``runtime``: the listener's
    state for /metrics and /operations (`voicemail run`)."""
    s = container.settings
    if container.mailboxes is None:
        raise ConfigError("the mailbox services are not built (voicemail.app.build_mailbox_services)")
    web = WebSettings.from_settings(s)
    tls = tls_context(s)
    probes: dict[str, Probe] = {
        "ami": ami_connected_probe(ami_connected) if ami_connected is not None
        else ami_banner_probe(s.ami_host, s.ami_port, tls if isinstance(tls, ssl.SSLContext) else None),
        "broker": broker_probe(s.broker_url),
        "database": database_probe(container.engine),
        "vault": vault_probe(s.vault_dir, container.keyring.current_kek_id),
    }
    audit = AuditLog(container.engine)
    return WebDeps(
        settings=web, engine=container.engine, accounts=AccountStore(container.engine, container.keyring),
        sessions=SessionStore(container.engine, web.session_idle, web.session_absolute),
        audit=audit, investigations=Investigations(container.engine, audit, default_site=s.site_name),
        messages=container.store,
        mailbox=container.mailboxes, limiter=RateLimiter(web.signin_rate_limit, web.signin_rate_window),
        # sign-in forms handed out per address: three per allowed attempt
        presignin_limiter=RateLimiter(3 * web.signin_rate_limit, web.signin_rate_window),
        probes=probes, signin_links=signin_links(s),
        extra_routers=(*signin_method_routers(s, container.engine), outlook_router(sso_exchange(s, container)),
                       operations_router(build_observer(container.engine, s, runtime))),
        pins=container.pins, desk_signins=SqlHotdeskStore(container.engine, default_site=s.site_name),
        feed=NewMessageFeed(SqlMailboxChanges(container.engine, default_site=s.site_name),
                            s.web_inbox_check_seconds))


def sso_exchange(s: Settings, container: Container) -> SsoExchange | None:
    """Office SSO for the Outlook add-in when outlook_sso_audience is set (with oidc_issuer)."""
    if not s.outlook_sso_audience:
        return None
    client = OidcClient(s.oidc_issuer, s.oidc_client_id, s.oidc_client_secret, s.oidc_redirect_url, s.oidc_scopes,
                        s.oidc_ca_file)
    return SsoExchange(client, s.outlook_sso_audience, s.oidc_account_claim, IdentityStore(container.engine))


def signin_links(s: Settings) -> tuple[tuple[str, str], ...]:
    links: list[tuple[str, str]] = []
    if piv_enabled(s):
        links.append(("Sign in with a smart card (PIV / CAC)", "/signin/piv"))
    if s.oidc_issuer:
        links.append(("Sign in with your organization account", "/signin/oidc"))
    return tuple(links)


def build_web_app(container: Container, *, ami_connected: Callable[[], bool] | None = None,
                  runtime: RuntimeStatus | None = None) -> FastAPI:
    return create_app(build_web_deps(container, ami_connected=ami_connected, runtime=runtime))
