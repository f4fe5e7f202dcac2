"""Installation checks of the services we talk to: Asterisk's AMI, the Celery broker, the mail server.

Each check connects once with a short timeout, changes nothing (no mail is sent, no task enqueued) and
names the address it tried. Secrets never appear in a result.
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from voicemail.config import Settings
from voicemail.ops.checks import CheckResult, failed, passed, skipped

TIMEOUT = 5.0  # seconds per connection attempt
# Actions the listener, the workers and the mailbox services send (ListCommands lists only the actions the
# user's `write =` classes allow, main/manager.c action_listcommands).
AMI_ACTIONS = ("VoicemailUsersList", "VoicemailBoxSummary", "VoicemailMove", "VoicemailRemove", "VoicemailRefresh",
               "MailboxCount")
AMI_PHONE_ACTIONS = ("Originate",)  # "play on my phone", when phone_device_template is set
AMI_MENU_ACTIONS = ("AGI",)  # the telephone menu drives its calls with Async AGI, when phone_menu is on
AMI_HOTDESK_ACTIONS = ("DBPut", "DBGet", "DBDel")  # extension mobility's AstDB family, when hotdesk_enabled


def missing_actions(listed: set[str], settings: Settings) -> list[str]:
    wanted = (AMI_ACTIONS + (AMI_PHONE_ACTIONS if settings.phone_device_template else ())
              + (AMI_MENU_ACTIONS if settings.phone_menu else ())
              + (AMI_HOTDESK_ACTIONS if settings.phone_menu and settings.hotdesk_enabled else ()))
    return [name for name in wanted if name not in listed]


async def _list_commands(settings: Settings, timeout: float) -> set[str]:
    from voicemail.ami.client import AmiClient
    from voicemail.app import tls_context

    tls = tls_context(settings)
    client = AmiClient(settings.ami_host, settings.ami_port, settings.ami_username, settings.ami_secret,
                       ssl=tls if isinstance(tls, ssl.SSLContext) else None, connect_timeout=timeout,
                       action_timeout=timeout, ping_interval=0)
    try:
        await client.connect()
        reply = await client.action("ListCommands")
    finally:
        await client.close()
    return {name for name, _ in reply.response.headers if name not in ("Response", "ActionID", "Message")}


def check_ami(settings: Settings, timeout: float = TIMEOUT) -> CheckResult:
    """Log in as ami_username and find every action we need in ListCommands."""
    from voicemail.ami.client import AmiAuthError, AmiConnectionLost, AmiTimeout

    where = f"{settings.ami_host}:{settings.ami_port}{' (TLS)' if settings.ami_tls else ''}"
    if not settings.ami_secret:
        return failed("ami", f"{where}: no ami_secret configured")
    try:
        listed = asyncio.run(_list_commands(settings, timeout))
    except AmiAuthError:
        return failed("ami", f"{where}: login as {settings.ami_username!r} refused: ami_secret does not match the "
                      "secret in manager.conf, or `permit` does not include this host")
    except (AmiConnectionLost, AmiTimeout, OSError) as exc:
        return failed("ami", f"{where}: {exc}")
    missing = missing_actions(listed, settings)
    if missing:
        return failed("ami", f"{where}: logged in, but the user may not send {', '.join(missing)}: grant the "
                      "write classes of deploy/asterisk/manager.conf and load app_voicemail")
    return passed("ami", f"{where}: logged in as {settings.ami_username!r}; "
                  f"{', '.join(missing_actions(set(), settings))} allowed")


def _broker_where(url: str) -> str:
    """The broker URL without user name and password."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or 'localhost'}{port}{parts.path}"


def check_broker(settings: Settings, timeout: float = TIMEOUT) -> CheckResult:
    """The Celery broker accepts a connection (and the credentials in broker_url)."""
    if not settings.broker_url or settings.broker_url.startswith("memory://"):
        return skipped("broker", "embedded transport: `voicemail run` runs the worker itself")
    from kombu import connection as kombu_connection

    connection: Any = kombu_connection.Connection  # kombu ships no type hints
    where = _broker_where(settings.broker_url)
    conn = connection(settings.broker_url, connect_timeout=timeout,
                      transport_options={"socket_timeout": timeout, "socket_connect_timeout": timeout,
                                         "max_retries": 0})
    try:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, interval_max=0, timeout=timeout)
    except Exception as exc:
        text = str(exc)[:160]
        password = urlsplit(settings.broker_url).password
        if password:
            text = text.replace(password, "********")
        return failed("broker", f"{where}: cannot connect ({type(exc).__name__}: {text})")
    finally:
        conn.release()
    return passed("broker", f"{where}: connected")


def _https_reachable(name: str, url: str, timeout: float, *, must_succeed: bool = False) -> CheckResult:
    """Any HTTP answer proves the server is reachable (EWS answers 401 before authentication); with
    ``must_succeed`` only a 2xx does (the Graph tenant's discovery document exists only for a real tenant)."""
    import httpx

    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            status = client.get(url).status_code
    except httpx.HTTPError as exc:
        return failed("mailer", f"{name} {url}: {type(exc).__name__}: {str(exc)[:160]}")
    if must_succeed and not 200 <= status < 300:
        return failed("mailer", f"{name} {url} answers HTTP {status}: check the tenant id")
    return passed("mailer", f"{name} {url} answers (HTTP {status}); credentials are tried at the first send")


def _smtp(settings: Settings, timeout: float) -> CheckResult:
    where = f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_tls})"
    context = ssl.create_default_context(cafile=settings.smtp_ca_file or None)
    try:
        if settings.smtp_tls == "implicit":
            server: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                                    context=context)
        else:
            server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        with server:
            server.ehlo()
            if settings.smtp_tls == "starttls":
                server.starttls(context=context)
                server.ehlo()
            if settings.smtp_username and not server.has_extn("auth"):
                return failed("mailer", f"smtp {where}: the server offers no AUTH, but smtp_username is set")
    except (OSError, smtplib.SMTPException) as exc:
        return failed("mailer", f"smtp {where}: {type(exc).__name__}: {str(exc)[:160]}")
    return passed("mailer", f"smtp {where}: greeting and EHLO ok; nothing was sent")


def _outbox(settings: Settings) -> CheckResult:
    folder = Path(settings.outbox_dir)
    target = folder if folder.exists() else folder.parent
    if not target.is_dir() or not os.access(target, os.W_OK | os.X_OK):
        return failed("mailer", f"outbox {folder} is not writable by this user (setting outbox_dir)")
    return passed("mailer", f"outbox {folder}" + ("" if folder.exists() else " (made at the first notification)"))


def check_mailer(settings: Settings, timeout: float = TIMEOUT) -> CheckResult:
    """The configured mail backend is reachable (outbox: its folder is writable). Nothing is sent."""
    if settings.mailer == "smtp":
        return _smtp(settings, timeout)
    if settings.mailer == "ews":
        return _https_reachable("ews", settings.ews_endpoint, timeout)
    if settings.mailer == "graph":
        authority = f"{settings.graph_authority.rstrip('/')}/{settings.graph_tenant_id}/v2.0/" \
                    ".well-known/openid-configuration"
        result = _https_reachable("graph tenant", authority, timeout, must_succeed=True)
        return result if not result.ok else _https_reachable("graph", settings.graph_endpoint, timeout)
    return _outbox(settings)
