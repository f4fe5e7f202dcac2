"""Checks of the PIV/CAC and OIDC sign-in settings (called from voicemail.config._validate, which imports this
module; it does not import voicemail.config)."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

from voicemail.setting_names import setting_error

CLIENT_CERT_MODES = ("off", "optional", "required")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _https(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.hostname) and (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK))


class SigninSettings(Protocol):
    """The settings these checks read (voicemail.config.Settings has them all)."""

    @property
    def web_tls_cert(self) -> str: ...
    @property
    def web_client_cert_mode(self) -> str: ...
    @property
    def web_client_ca_file(self) -> str: ...
    @property
    def web_client_cert_header(self) -> str: ...
    @property
    def web_trusted_proxies(self) -> tuple[str, ...]: ...
    @property
    def oidc_issuer(self) -> str: ...
    @property
    def oidc_client_id(self) -> str: ...
    @property
    def oidc_redirect_url(self) -> str: ...
    @property
    def oidc_scopes(self) -> tuple[str, ...]: ...
    @property
    def oidc_account_claim(self) -> str: ...


def check_signin_settings(s: SigninSettings) -> None:
    from voicemail.web.piv_source import parse_networks

    bad = setting_error

    if s.web_client_cert_mode not in CLIENT_CERT_MODES:
        raise bad("web_client_cert_mode", f"expected one of {', '.join(CLIENT_CERT_MODES)}")
    if s.web_client_cert_mode != "off":
        if not s.web_tls_cert:
            raise bad("web_client_cert_mode", "needs web_tls_cert and web_tls_key (uvicorn terminates TLS)")
        if not s.web_client_ca_file:
            raise bad("web_client_ca_file", "required with web_client_cert_mode = optional or required")
    if s.web_client_cert_header:
        if not s.web_trusted_proxies:
            raise bad("web_trusted_proxies", "required with web_client_cert_header (the proxies the header is "
                      "accepted from)")
        if not s.web_client_ca_file:
            raise bad("web_client_ca_file", "required with web_client_cert_header (the app checks the issuer)")
        if not s.web_client_cert_header.replace("-", "").replace("_", "").isalnum():
            raise bad("web_client_cert_header", "not an HTTP header name")
    try:
        parse_networks(s.web_trusted_proxies)
    except ValueError as exc:
        raise bad("web_trusted_proxies", str(exc)) from None
    if s.oidc_issuer:
        if not _https(s.oidc_issuer):
            raise bad("oidc_issuer", "must be an https:// URL (http:// only on loopback)")
        for name in ("oidc_client_id", "oidc_redirect_url"):
            if not getattr(s, name):
                raise bad(name, "required with oidc_issuer")
        if not _https(s.oidc_redirect_url) or not urlsplit(s.oidc_redirect_url).path.endswith("/signin/oidc/callback"):
            raise bad("oidc_redirect_url", "must be https://<this site>/signin/oidc/callback (http:// only on "
                      "loopback)")
        if "openid" not in s.oidc_scopes:
            raise bad("oidc_scopes", "must include openid")
        if not s.oidc_account_claim:
            raise bad("oidc_account_claim", "required with oidc_issuer")
