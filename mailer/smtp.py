"""SMTP sender (smtplib): STARTTLS, implicit TLS (SMTPS) or plain; optional AUTH.

The message on the wire is exactly ``render_rfc5322`` of the notification (the same bytes as the
outbox's ``.eml``); the envelope is MAIL FROM the configured sender, RCPT TO the mailbox owner.

One connection per process is kept open between notifications (under a lock) and re-opened when the
server has closed it: a connection found dead at ``MAIL FROM`` has carried nothing yet, so that one send
is retried at once on a fresh connection. A failure later in the transaction is reported as transient
(the worker retries; at worst the owner gets one more copy).

DATA is sent in two steps: the message, then (after ``before_commit`` allowed it) the final dot, which is
when the server takes the message. When ``before_commit`` raises, the connection is closed without the
dot, so the server discards what it received.

Errors: 4xx replies, timeouts and refused connections -> TransientError; 5xx replies (unknown recipient,
message refused), failed authentication and an untrusted server certificate -> PermanentError.
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from mailer.rfc5322 import DEFAULT_MESSAGE_ID_DOMAIN, address_of, is_valid_domain, render_rfc5322
from mailer.sanitize import is_plain_address
from voicemail.domain.errors import ConfigError, PermanentError, TransientError
from voicemail.domain.models import OutgoingEmail

TLS_MODES = ("starttls", "implicit", "none")
_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    sender: str  # envelope MAIL FROM (a plain address)
    port: int = 587
    tls: str = "starttls"  # starttls | implicit | none
    username: str = ""
    password: str = ""
    ca_file: str = ""  # CA bundle for the server certificate; empty = the system CAs
    timeout: float = 30.0
    message_id_domain: str = DEFAULT_MESSAGE_ID_DOMAIN
    local_hostname: str | None = None  # EHLO name; None = this host's FQDN

    def __post_init__(self) -> None:
        if not self.host or any(char.isspace() for char in self.host):
            raise ConfigError("VOICEMAIL_SMTP_HOST must be a host name or address")
        if not 0 < self.port < 65536:
            raise ConfigError(f"VOICEMAIL_SMTP_PORT out of range: {self.port}")
        if self.tls not in TLS_MODES:
            raise ConfigError(f"VOICEMAIL_SMTP_TLS must be one of {', '.join(TLS_MODES)}")
        if not is_plain_address(self.sender):
            raise ConfigError("VOICEMAIL_SMTP_SENDER must be a plain e-mail address like voicemail@example.org")
        if self.username and self.tls == "none":
            raise ConfigError("VOICEMAIL_SMTP_USERNAME needs VOICEMAIL_SMTP_TLS=starttls or implicit "
                              "(no password in clear text)")
        if self.username and not self.password:
            raise ConfigError("VOICEMAIL_SMTP_PASSWORD is required with VOICEMAIL_SMTP_USERNAME")
        if not self.timeout > 0:
            raise ConfigError("the SMTP timeout must be positive")
        if not is_valid_domain(self.message_id_domain):
            raise ConfigError("message_id_domain must be a domain name, e.g. voicemail.example.org")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _reply_error(action: str, code: int) -> TransientError | PermanentError:
    """An SMTP reply code as a domain error; the server's text is not kept (it may echo the message)."""
    if 400 <= code < 500:
        return TransientError(f"SMTP server deferred {action} ({code})")
    return PermanentError(f"SMTP server refused {action} ({code})")


class SmtpMailer:
    """Implements the ``Mailer`` port over SMTP."""

    def __init__(self, config: SmtpConfig, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: smtplib.SMTP | None = None
        self._pid = 0

    @property
    def config(self) -> SmtpConfig:
        return self._config

    def render(self, email: OutgoingEmail) -> bytes:
        """The message bytes this sender puts after DATA (before dot-stuffing)."""
        return render_rfc5322(email, message_id_domain=self._config.message_id_domain, date=self._clock())

    def send(self, email: OutgoingEmail, before_commit: Callable[[], None] | None = None) -> None:
        data = self.render(email)
        recipient = address_of(email.recipient, "recipient")
        with self._lock:
            try:
                conn, fresh = self._connection()
                try:
                    self._transaction(conn, recipient, data, before_commit)
                except _StaleConnection:
                    if fresh:
                        raise TransientError("SMTP server closed the connection") from None
                    self._drop()
                    conn, _ = self._connection()
                    self._transaction(conn, recipient, data, before_commit)
            except _StaleConnection:
                self._drop()
                raise TransientError("SMTP server closed the connection") from None
            except smtplib.SMTPAuthenticationError as exc:
                self._drop()
                raise PermanentError(f"SMTP authentication failed ({exc.smtp_code})") from None
            except smtplib.SMTPNotSupportedError as exc:
                self._drop()
                raise PermanentError(f"SMTP server lacks a required extension: {exc.args[0]!s:.80}") from None
            except ssl.SSLCertVerificationError:
                self._drop()
                raise PermanentError("SMTP server certificate is not trusted (VOICEMAIL_SMTP_CA_FILE?)") from None
            except smtplib.SMTPResponseException as exc:
                self._drop()
                raise _reply_error("the connection", exc.smtp_code) from None
            except (TransientError, PermanentError):
                raise
            except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, TLS failure
                self._drop()
                raise TransientError(f"SMTP server unreachable: {type(exc).__name__}") from None
            except BaseException:  # anything else in the middle of a transaction: never reuse that connection
                self._drop()
                raise

    def _transaction(self, conn: smtplib.SMTP, recipient: str, data: bytes,
                     before_commit: Callable[[], None] | None = None) -> None:
        try:
            code, _ = conn.mail(self._config.sender)
        except smtplib.SMTPServerDisconnected:
            raise _StaleConnection from None
        if code != 250:
            self._reset(conn)
            raise _reply_error("the sender", code)
        code, _ = conn.rcpt(recipient)
        if code not in (250, 251):
            self._reset(conn)
            raise _reply_error("the recipient", code)
        code = self._data(conn, data, before_commit)
        if code != 250:
            raise _reply_error("the message", code)

    def _data(self, conn: smtplib.SMTP, data: bytes, before_commit: Callable[[], None] | None) -> int:
        """smtplib's DATA with a gate before the final dot (the moment the server takes the message)."""
        conn.putcmd("data")
        code, _ = conn.getreply()
        if code != 354:
            raise _reply_error("the message", code)
        body = _DOT_AT_LINE_START.sub(b"..", data)  # as smtplib does for bytes
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        conn.send(body)
        try:
            if before_commit is not None:
                before_commit()
        except BaseException:
            self._drop()  # no dot: the server discards the message
            raise
        conn.send(b".\r\n")
        code, _ = conn.getreply()
        return code

    @staticmethod
    def _reset(conn: smtplib.SMTP) -> None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            conn.rset()

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self._config.ca_file or None)

    def _connection(self) -> tuple[smtplib.SMTP, bool]:
        """The open connection (False) or a new, greeted, secured and authenticated one (True)."""
        if self._conn is not None and self._pid == os.getpid():
            return self._conn, False
        self._conn = None  # a connection inherited across fork() belongs to the parent
        cfg = self._config
        conn: smtplib.SMTP
        if cfg.tls == "implicit":
            conn = smtplib.SMTP_SSL(cfg.host, cfg.port, local_hostname=cfg.local_hostname, timeout=cfg.timeout,
                                    context=self._tls_context())
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, local_hostname=cfg.local_hostname, timeout=cfg.timeout)
        try:
            conn.ehlo()
            if cfg.tls == "starttls":
                conn.starttls(context=self._tls_context())  # raises SMTPNotSupportedError without STARTTLS
                conn.ehlo()
            if cfg.username:
                conn.login(cfg.username, cfg.password)
        except BaseException:
            _close_quietly(conn)
            raise
        self._conn, self._pid = conn, os.getpid()
        return conn, True

    def _drop(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            _close_quietly(self._conn)
        self._conn = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    self._conn.quit()
                _close_quietly(self._conn)
            self._conn = None


class _StaleConnection(Exception):
    """The kept connection was found closed before this message was handed over."""


def _close_quietly(conn: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        conn.close()
