"""The PIV/CAC and OIDC sign-in routers the settings ask for (wired into WebDeps.extra_routers).

- PIV when ``web_client_cert_mode`` is optional/required (uvicorn terminates TLS) or
  ``web_client_cert_header`` is set (a reverse proxy does); both need ``web_client_ca_file``.
- OIDC when ``oidc_issuer`` is set.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.engine import Engine

from voicemail.config import Settings
from voicemail.domain.errors import ConfigError
from voicemail.web.oidc import OidcSignin, PendingStore, oidc_router
from voicemail.web.oidc_client import OidcClient
from voicemail.web.piv import PivSignin, piv_router
from voicemail.web.piv_cert import IssuerStore
from voicemail.web.piv_source import parse_networks
from voicemail.web.signin_identities import IdentityStore


def piv_enabled(settings: Settings) -> bool:
    return settings.web_client_cert_mode != "off" or bool(settings.web_client_cert_header)


def signin_method_routers(settings: Settings, engine: Engine) -> tuple[APIRouter, ...]:
    routers: list[APIRouter] = []
    identities = IdentityStore(engine)
    if piv_enabled(settings):
        try:
            issuers = IssuerStore.from_file(settings.web_client_ca_file)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"setting web_client_ca_file (VOICEMAIL_WEB_CLIENT_CA_FILE): cannot read a PEM CA "
                              f"bundle from {settings.web_client_ca_file}: {type(exc).__name__}") from None
        routers.append(piv_router(PivSignin(issuers, identities, settings.web_client_cert_header,
                                            parse_networks(settings.web_trusted_proxies))))
    if settings.oidc_issuer:
        client = OidcClient(settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret,
                            settings.oidc_redirect_url, settings.oidc_scopes, settings.oidc_ca_file)
        routers.append(oidc_router(OidcSignin(client, identities, PendingStore(engine), settings.oidc_account_claim)))
    return tuple(routers)
