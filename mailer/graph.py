"""Microsoft Graph sender (Exchange Online): ``POST /v1.0/users/{sender}/sendMail``.

Authentication is the OAuth 2.0 client-credentials grant through msal: an application registered in
Entra ID with the ``Mail.Send`` application permission (best restricted to the sender mailbox with an
application access policy). msal caches the token in memory and asks for a new one shortly before it
expires; a 401 / 403 drops the cache, so a permission fixed by the administrator is seen at the next try.

The JSON carries the subject, the HTML body (Graph takes one body; Outlook renders HTML), the recipient,
importance high for urgent messages, Sensitivity Private (MAPI ``PR_SENSITIVITY`` = 2) and our opaque
``X-Voicemail-Id`` internet header. ``saveToSentItems`` is false: no copy piles up in the sender mailbox.

Errors: 429 / 503 / 504 -> RetryLater with the ``Retry-After`` hint; other 5xx, timeouts and connection
failures -> TransientError; 400 (e.g. ErrorInvalidRecipients), 401, 403, 404, 413 -> PermanentError.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import msal
import requests

from mailer.errors import RetryLater, parse_retry_after, untrusted_certificate
from mailer.rfc5322 import address_of
from mailer.sanitize import is_plain_address
from voicemail.domain.errors import ConfigError, PermanentError, TransientError
from voicemail.domain.models import OutgoingEmail

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_ENDPOINT = "https://graph.microsoft.com"
PR_SENSITIVITY = "Integer 0x0036"  # MAPI property tag of Sensitivity; 2 = Private
SENSITIVITY_PRIVATE = "2"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$")  # a GUID or a domain name
_GRAPH_HEADER = re.compile(r"^[Xx]-[A-Za-z0-9-]{1,74}$")  # Graph accepts only X- internet headers
_ERROR_CODE = re.compile(r"[^A-Za-z0-9_.]")
_BUSY = frozenset({429, 503, 504})
# Token errors that no retry can fix (RFC 6749 section 5.2 and Entra ID's own).
_TOKEN_PERMANENT = frozenset({"invalid_client", "unauthorized_client", "invalid_scope", "invalid_request",
                              "unsupported_grant_type", "invalid_grant"})


def _https_origin(value: str, setting: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{setting} must be an https:// URL, e.g. {DEFAULT_ENDPOINT}")
    return value.rstrip("/")


@dataclass(frozen=True)
class GraphConfig:
    tenant_id: str
    client_id: str
    client_secret: str
    sender: str  # the mailbox that sends (users/{sender}/sendMail)
    authority: str = DEFAULT_AUTHORITY  # national clouds: login.microsoftonline.us, login.chinacloudapi.cn
    endpoint: str = DEFAULT_ENDPOINT  # national clouds: graph.microsoft.us, microsoftgraph.chinacloudapi.cn
    timeout: float = 30.0
    ca_file: str = ""  # CA bundle for both hosts; empty = the system / requests defaults

    def __post_init__(self) -> None:
        if not _TENANT.match(self.tenant_id or ""):
            raise ConfigError("VOICEMAIL_GRAPH_TENANT_ID must be the directory (tenant) id or domain")
        if not self.client_id or any(char.isspace() for char in self.client_id):
            raise ConfigError("VOICEMAIL_GRAPH_CLIENT_ID must be the application (client) id")
        if not self.client_secret:
            raise ConfigError("VOICEMAIL_GRAPH_CLIENT_SECRET is required")
        if not is_plain_address(self.sender):
            raise ConfigError("VOICEMAIL_GRAPH_SENDER must be a plain e-mail address like voicemail@example.org")
        _https_origin(self.authority, "VOICEMAIL_GRAPH_AUTHORITY")
        _https_origin(self.endpoint, "VOICEMAIL_GRAPH_ENDPOINT")
        if not self.timeout > 0:
            raise ConfigError("the Graph timeout must be positive")

    @property
    def send_url(self) -> str:
        return f"{self.endpoint.rstrip('/')}/v1.0/users/{quote(self.sender, safe='@')}/sendMail"

    @property
    def scope(self) -> str:
        return f"{self.endpoint.rstrip('/')}/.default"


def graph_message(email: OutgoingEmail) -> dict[str, Any]:
    """The sendMail request body for one notification."""
    recipient = address_of(email.recipient, "recipient")
    headers = []
    for name, value in email.headers:
        if not _GRAPH_HEADER.match(name) or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
            raise PermanentError(f"header {name[:40]!r} cannot be sent through Graph")
        headers.append({"name": name, "value": value})
    return {
        "message": {
            "subject": email.subject,
            "body": {"contentType": "HTML", "content": email.html},
            "toRecipients": [{"emailAddress": {"address": recipient}}],
            "importance": "high" if email.urgent else "normal",
            "internetMessageHeaders": headers,
            "singleValueExtendedProperties": [{"id": PR_SENSITIVITY, "value": SENSITIVITY_PRIVATE}],
        },
        "saveToSentItems": False,
    }


def render_graph_request(email: OutgoingEmail) -> bytes:
    """The exact bytes POSTed to sendMail (UTF-8 JSON)."""
    try:
        return json.dumps(graph_message(email), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        raise PermanentError("the notification cannot be encoded as UTF-8") from None


def _error_code(response: requests.Response) -> str:
    """Graph's ``error.code`` (e.g. ErrorInvalidRecipients), reduced to a safe token; never the message."""
    try:
        body = response.json()
        code = str(body["error"]["code"]) if isinstance(body, dict) else ""
    except (ValueError, KeyError, TypeError):
        code = ""
    return _ERROR_CODE.sub("", code)[:60]


class _Http:
    """requests with our CA bundle and timeout on every call (a Session's own ``verify`` loses to the
    REQUESTS_CA_BUNDLE environment variable). msal uses it too, through its get / post / close."""

    def __init__(self, verify: bool | str, timeout: float) -> None:
        self._session = requests.Session()
        self._verify = verify
        self._timeout = timeout

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("verify", self._verify)
        kwargs.setdefault("timeout", self._timeout)
        return self._session.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("verify", self._verify)
        kwargs.setdefault("timeout", self._timeout)
        return self._session.post(url, **kwargs)

    def close(self) -> None:
        self._session.close()


def _network_error(exc: requests.RequestException, what: str) -> TransientError | PermanentError:
    if untrusted_certificate(exc):
        return PermanentError(f"{what}: the server certificate is not trusted (CA bundle: REQUESTS_CA_BUNDLE)")
    if isinstance(exc, requests.Timeout):
        return TransientError(f"{what}: timed out")
    return TransientError(f"{what}: unreachable ({type(exc).__name__})")


class GraphMailer:
    """Implements the ``Mailer`` port over Microsoft Graph."""

    def __init__(self, config: GraphConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._app: Any = None
        self._http: _Http | None = None
        self._pid = 0

    @property
    def config(self) -> GraphConfig:
        return self._config

    def _clients(self) -> tuple[Any, _Http]:
        """msal's confidential client (token cache inside) and the HTTP client, made once per process."""
        with self._lock:
            if self._app is None or self._http is None or self._pid != os.getpid():
                cfg = self._config
                http = self._http if self._http is not None and self._pid == os.getpid() else None
                http = http or _Http(cfg.ca_file or True, cfg.timeout)
                try:
                    app = msal.ConfidentialClientApplication(
                        cfg.client_id, client_credential=cfg.client_secret,
                        authority=f"{cfg.authority.rstrip('/')}/{cfg.tenant_id}",
                        instance_discovery=False, http_client=http)
                except ValueError:  # the tenant discovery document is missing: a wrong tenant or authority
                    raise PermanentError("Graph authority refused the tenant (VOICEMAIL_GRAPH_TENANT_ID, "
                                         "VOICEMAIL_GRAPH_AUTHORITY)") from None
                except requests.RequestException as exc:
                    raise _network_error(exc, "Graph authority") from None
                self._app, self._http, self._pid = app, http, os.getpid()
            return self._app, self._http

    def _forget_token(self) -> None:
        with self._lock:
            self._app = None

    def _token(self) -> tuple[str, _Http]:
        app, http = self._clients()
        try:
            result = app.acquire_token_for_client(scopes=[self._config.scope])
        except requests.RequestException as exc:
            raise _network_error(exc, "Graph token endpoint") from None
        except ValueError:  # a body that is not JSON: an outage page
            raise TransientError("Graph token endpoint answered with no token") from None
        if isinstance(result, dict) and isinstance(result.get("access_token"), str):
            return result["access_token"], http
        error = _ERROR_CODE.sub("", str(result.get("error", "")) if isinstance(result, dict) else "")[:60]
        if error in _TOKEN_PERMANENT:
            raise PermanentError(f"Graph token refused ({error}): check VOICEMAIL_GRAPH_CLIENT_ID / "
                                 "VOICEMAIL_GRAPH_CLIENT_SECRET / VOICEMAIL_GRAPH_TENANT_ID")
        raise TransientError(f"Graph token not issued ({error or 'no error code'})")

    def send(self, email: OutgoingEmail, before_commit: Callable[[], None] | None = None) -> None:
        body = render_graph_request(email)
        token, http = self._token()
        if before_commit is not None:
            before_commit()
        try:
            response = http.post(
                self._config.send_url, data=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"})
        except requests.RequestException as exc:
            raise _network_error(exc, "Graph sendMail") from None
        with response:
            status = response.status_code
            if status == 202 or status == 200:
                return
            if status in _BUSY or status >= 500:
                hint = parse_retry_after(response.headers.get("Retry-After"))
                raise RetryLater(f"Graph is busy or failing ({status})", retry_after=hint)
            code = _error_code(response)
            if status in (401, 403):
                self._forget_token()
            raise PermanentError(f"Graph refused the message ({status}{' ' + code if code else ''})")

    def close(self) -> None:
        with self._lock:
            if self._http is not None and self._pid == os.getpid():
                self._http.close()
            self._app, self._http = None, None
