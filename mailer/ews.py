"""Exchange Web Services sender (exchangelib), for Exchange Server on premises.

- Explicit endpoint, no autodiscover, a pinned server version (no version probing round trips).
- NTLM or Basic with a service account that owns (or may send as) the sender mailbox; or OAuth 2.0
  client credentials (Entra ID, hybrid modern auth) with ApplicationImpersonation of the sender.
- ``FailFast`` retry policy: exchangelib never sleeps or retries; Celery owns retries.
- ``send(save_copy=False)``: exactly one ``CreateItem`` with ``MessageDisposition="SendOnly"``, so no copy
  piles up in Sent Items. Sensitivity Private; importance High for urgent messages; our opaque id as the
  ``X-Voicemail-Id`` internet header (an extended property in the InternetHeaders property set).
- EWS takes one body: the HTML one (Exchange derives the plain-text alternative itself).

Errors: ``ErrorServerBusy`` -> RetryLater carrying its ``BackOffMilliseconds``; HTTP 429 / 503 -> RetryLater
with ``Retry-After``; timeouts, other 5xx, connection failures -> TransientError; HTTP 401 / 403, a refused
recipient, a schema fault or an access error -> PermanentError. Messages name the error class only,
never server text (it could echo the request, which may name an internal caller).

exchangelib logs whole SOAP requests at DEBUG (and, on an unexpected exception, at ERROR). Building an
EwsMailer therefore caps the ``exchangelib`` loggers at INFO and withholds the details of what they log.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Credentials,
    EWSTimeZone,
    FailFast,
    HTMLBody,
    Identity,
    Mailbox,
    Message,
    OAuth2Credentials,
    Version,
)
from exchangelib import errors as ews_errors
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.items import SEND_ONLY, SEND_TO_NONE
from exchangelib.properties import Fields
from exchangelib.services import CreateItem
from exchangelib.util import is_xml
from oauthlib.oauth2 import OAuth2Error

from mailer.compose import ID_HEADER
from mailer.errors import RetryLater, parse_retry_after, untrusted_certificate
from mailer.rfc5322 import address_of
from mailer.sanitize import is_plain_address
from voicemail.domain.errors import ConfigError, PermanentError, TransientError
from voicemail.domain.models import OutgoingEmail

AUTH_TYPES = {"ntlm": NTLM, "basic": BASIC, "oauth2": OAUTH2}
# RequestServerVersion values we pin to, with the build exchangelib associates with each.
SERVER_VERSIONS = {
    "Exchange2013": Build(15, 0),
    "Exchange2013_SP1": Build(15, 0, 847),
    "Exchange2016": Build(15, 1),  # Exchange 2016, 2019 and Subscription Edition speak this
}
DEFAULT_VERSION = "Exchange2016"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"

# Faults that say "try again later" (everything else from the server is final for this notification).
_TRANSIENT_FAULTS: tuple[type[Exception], ...] = (
    ews_errors.ErrorTimeoutExpired,
    ews_errors.ErrorInternalServerTransientError,
    ews_errors.ErrorTooManyObjectsOpened,
    ews_errors.ErrorExceededConnectionCount,
    ews_errors.ErrorMailboxStoreUnavailable,
    ews_errors.ErrorConnectionFailed,
    ews_errors.ErrorMailboxMoveInProgress,
    ews_errors.ErrorInternalServerError,
    ews_errors.ErrorADUnavailable,
    ews_errors.RateLimitError,
    ews_errors.MalformedResponseError,
)


class VoicemailIdHeader(ExtendedProperty):  # type: ignore[misc]
    """``X-Voicemail-Id: <notification id>`` as an internet message header."""

    distinguished_property_set_id = "InternetHeaders"
    property_name = ID_HEADER
    property_type = "String"


class VoicemailMessage(Message):  # type: ignore[misc]
    """A Message with our header property, registered on this class only (exchangelib's Message is left
    as it is for anyone else in the process)."""

    FIELDS = Fields(*Message.FIELDS)


VoicemailMessage.register("voicemail_id", VoicemailIdHeader)


class _OAuth2(OAuth2Credentials):  # type: ignore[misc]
    """Client credentials whose token URL and scope follow our settings (national clouds, on premises)."""

    def __init__(self, *, token_url: str, scope: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._voicemail_token_url = token_url
        self._voicemail_scope = scope

    @property
    def token_url(self) -> str:
        return self._voicemail_token_url

    @property
    def scope(self) -> list[str]:
        return [self._voicemail_scope]


class _FailFastByStatus(FailFast):  # type: ignore[misc]
    """exchangelib's FailFast, with HTTP status codes mapped to our errors before exchangelib guesses."""

    def raise_response_errors(self, response: requests.Response) -> None:
        status = response.status_code
        if status == 200:
            return
        if status == 500 and response.content and is_xml(response.content):
            return  # a SOAP fault: exchangelib parses it (ErrorServerBusy, ErrorSchemaValidation, ...)
        if status in (401, 403):
            raise PermanentError(f"EWS refused the credentials (HTTP {status}): check VOICEMAIL_EWS_USERNAME, "
                                 "VOICEMAIL_EWS_PASSWORD and VOICEMAIL_EWS_AUTH")
        if status in (429, 503) or status >= 500:
            raise RetryLater(f"EWS is busy or failing (HTTP {status})",
                             retry_after=parse_retry_after(response.headers.get("Retry-After")))
        raise PermanentError(f"EWS answered HTTP {status}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secure_url(url: str) -> bool:
    """https://, or http:// to a loopback address (a test server on this machine)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname or ""))


@dataclass(frozen=True)
class EwsConfig:
    endpoint: str  # e.g. https://mail.example.org/EWS/Exchange.asmx
    sender: str  # the mailbox that sends
    username: str  # ntlm: DOMAIN\\user; basic: user@domain; oauth2: the application (client) id
    password: str  # oauth2: the client secret
    auth: str = "ntlm"
    version: str = DEFAULT_VERSION
    tenant_id: str = ""  # oauth2 only
    authority: str = DEFAULT_AUTHORITY  # oauth2 only: the token issuer
    timeout: float = 30.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.endpoint)
        if not _secure_url(self.endpoint) or not parts.hostname or not parts.path.strip("/"):
            raise ConfigError("VOICEMAIL_EWS_ENDPOINT must be the https:// URL of EWS, e.g. "
                              "https://mail.example.org/EWS/Exchange.asmx (http:// only on loopback)")
        if self.auth not in AUTH_TYPES:
            raise ConfigError(f"VOICEMAIL_EWS_AUTH must be one of {', '.join(AUTH_TYPES)}")
        if not self.username or not self.password:
            raise ConfigError("VOICEMAIL_EWS_USERNAME and VOICEMAIL_EWS_PASSWORD are required "
                              "(oauth2: the application id and its client secret)")
        if not is_plain_address(self.sender):
            raise ConfigError("VOICEMAIL_EWS_SENDER must be a plain e-mail address like voicemail@example.org")
        if self.version not in SERVER_VERSIONS:
            raise ConfigError(f"VOICEMAIL_EWS_VERSION must be one of {', '.join(SERVER_VERSIONS)}")
        if self.auth == "oauth2":
            if not self.tenant_id:
                raise ConfigError("VOICEMAIL_EWS_TENANT_ID is required with VOICEMAIL_EWS_AUTH=oauth2")
            authority = urlsplit(self.authority)
            if not _secure_url(self.authority) or not authority.hostname:
                raise ConfigError("VOICEMAIL_GRAPH_AUTHORITY must be an https:// URL (the OAuth2 token issuer)")
        if not self.timeout > 0:
            raise ConfigError("the EWS timeout must be positive")


class _WithholdDetails(logging.Filter):
    """Keep that exchangelib logged something and where, never what (it may quote the SOAP request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return False
        record.msg = "exchangelib %s in %s (details withheld: they may quote message content)"
        record.args = (record.levelname.lower(), record.module)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


_FILTER = _WithholdDetails()


def quiet_exchangelib_logs() -> None:
    """Cap exchangelib's loggers at INFO and withhold message details (idempotent)."""
    logging.getLogger("exchangelib").setLevel(logging.INFO)
    for name in list(logging.Logger.manager.loggerDict):
        if name == "exchangelib" or name.startswith("exchangelib."):
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)


def map_ews_error(exc: BaseException) -> TransientError | PermanentError:
    """An exchangelib / requests / oauthlib failure as a domain error (class names only)."""
    name = type(exc).__name__
    if isinstance(exc, ews_errors.ErrorServerBusy):
        return RetryLater("EWS server busy (ErrorServerBusy)", retry_after=exc.back_off or None)
    if isinstance(exc, ews_errors.UnauthorizedError):
        return PermanentError("EWS refused the credentials (UnauthorizedError)")
    if untrusted_certificate(exc):
        return PermanentError("EWS server certificate is not trusted (CA bundle: REQUESTS_CA_BUNDLE)")
    if isinstance(exc, OAuth2Error):
        return PermanentError(f"EWS OAuth2 token refused ({name}): check VOICEMAIL_EWS_USERNAME (application id), "
                              "VOICEMAIL_EWS_PASSWORD (client secret) and VOICEMAIL_EWS_TENANT_ID")
    # TransportError itself (not a subclass: nearly every EWS fault is one) is a TLS or network failure.
    if (isinstance(exc, (*_TRANSIENT_FAULTS, requests.RequestException, OSError))
            or type(exc) is ews_errors.TransportError):
        return TransientError(f"EWS unavailable ({name})")
    # Schema faults, ErrorInvalidRecipients, ErrorNonExistentMailbox, ErrorAccessDenied,
    # ErrorSendAsDenied, ErrorImpersonateUserDenied, ErrorMessageSizeExceeded, ...: retrying cannot help.
    return PermanentError(f"EWS refused the message ({name})")


class EwsMailer:
    """Implements the ``Mailer`` port over EWS."""

    def __init__(self, config: EwsConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._account: Account | None = None
        self._pid = 0
        quiet_exchangelib_logs()

    @property
    def config(self) -> EwsConfig:
        return self._config

    def _credentials(self) -> Any:
        cfg = self._config
        if cfg.auth != "oauth2":
            return Credentials(cfg.username, cfg.password)
        origin = urlsplit(cfg.endpoint)
        return _OAuth2(
            client_id=cfg.username, client_secret=cfg.password, tenant_id=cfg.tenant_id,
            identity=Identity(primary_smtp_address=cfg.sender),
            token_url=f"{cfg.authority.rstrip('/')}/{cfg.tenant_id}/oauth2/v2.0/token",
            scope=f"{origin.scheme}://{origin.netloc}/.default")

    def account(self) -> Account:
        """The sender's Account, made once per process. Makes no network request."""
        with self._lock:
            if self._account is None or self._pid != os.getpid():
                cfg = self._config
                version = Version(build=SERVER_VERSIONS[cfg.version], api_version=cfg.version)
                configuration = Configuration(
                    service_endpoint=cfg.endpoint, credentials=self._credentials(),
                    auth_type=AUTH_TYPES[cfg.auth], version=version, retry_policy=_FailFastByStatus())
                account = Account(
                    primary_smtp_address=cfg.sender, config=configuration, autodiscover=False,
                    access_type=IMPERSONATION if cfg.auth == "oauth2" else DELEGATE,
                    default_timezone=EWSTimeZone("UTC"))
                protocol = account.protocol
                protocol.TIMEOUT = cfg.timeout  # per request; a hung server becomes ErrorTimeoutExpired
                protocol.RETRY_WAIT = 0  # so an ErrorServerBusy without a hint carries none
                self._account, self._pid = account, os.getpid()
            return self._account

    def message(self, email: OutgoingEmail, account: Account | None = None) -> VoicemailMessage:
        recipient = address_of(email.recipient, "recipient")
        return VoicemailMessage(
            account=account or self.account(),
            subject=email.subject,
            body=HTMLBody(email.html),
            to_recipients=[Mailbox(email_address=recipient)],
            sensitivity="Private",
            importance="High" if email.urgent else "Normal",
            voicemail_id=email.notification_id,
        )

    def render_request(self, email: OutgoingEmail) -> bytes:
        """The SOAP envelope ``send`` POSTs for this notification (no network)."""
        account = self.account()
        service = CreateItem(account=account)
        payload = service.get_payload(items=[self.message(email, account)], folder=None,
                                      message_disposition=SEND_ONLY, send_meeting_invitations=SEND_TO_NONE)
        data: bytes = service.wrap(content=payload, api_version=account.version.api_version)
        return data

    def send(self, email: OutgoingEmail, before_commit: Callable[[], None] | None = None) -> None:
        try:
            item = self.message(email)
            if before_commit is not None:
                before_commit()
            item.send(save_copy=False)
        except (TransientError, PermanentError):
            raise
        except Exception as exc:  # exchangelib raises its own tree, requests', oauthlib's and ValueErrors
            raise map_ews_error(exc) from None

    def close(self) -> None:
        with self._lock:
            if self._account is not None and self._pid == os.getpid():
                self._account.protocol.close()
            self._account = None
