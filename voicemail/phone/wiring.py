"""Builds the telephone menu's parts from Settings (called by the composition root, voicemail/app.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from voicemail.ami.astdb import KEY
from voicemail.config import Settings, serving_site
from voicemail.domain.mailbox import MailboxService
from voicemail.domain.models import MailboxRef
from voicemail.phone.agi import AgiReply
from voicemail.phone.dialog import Flow, MenuSettings
from voicemail.phone.driver import AmiPeer, AppFactory, MenuDriver
from voicemail.phone.hotdesk import extension_mobility
from voicemail.phone.hotdesk_port import AmiDeskDb, HotdeskPort
from voicemail.phone.port import STAGE_PREFIX, CallPort, PortSettings
from voicemail.phone.staging import StagingDir
from voicemail.services.hotdesk import HotdeskService
from voicemail.services.phone_pins import Argon2PinHasher, PinHasher, PinService

if TYPE_CHECKING:
    from voicemail.audit.store import AuditLog

log = logging.getLogger(__name__)
HOTDESK_APP = "extension-mobility"
Hotdesk = tuple[HotdeskService, AmiDeskDb]  # the service and the AstDB connection to attach to the AMI loop


def pin_service(settings: Settings, engine: Engine, audit: AuditLog, hasher: PinHasher | None = None) -> PinService:
    from voicemail.phone.pin_store import SqlPinStore

    return PinService(SqlPinStore(engine, settings.site_name, audit), hasher or Argon2PinHasher(), audit,
                      min_length=settings.phone_pin_min_length, max_failures=settings.phone_pin_max_failures,
                      lockout_seconds=settings.phone_pin_lockout_seconds, default_site=audit_default_site(settings))


def audit_default_site(settings: Settings) -> str:
    """With several sites the default site's name (phone audit events then name their site); else empty."""
    return settings.site_name if settings.sites else ""


def audit_site(settings: Settings) -> str:
    """With several sites the name of the site this process serves (recorded in its phone audit events)."""
    return serving_site(settings) if settings.sites else ""


def menu_settings(settings: Settings) -> MenuSettings:
    fmt = next((f for f in settings.spool_formats if f.isalnum()), "wav")
    return MenuSettings(digit_timeout_ms=int(settings.phone_menu_digit_timeout * 1000),
                        menu_wait_ms=int(settings.phone_menu_wait * 1000), max_logins=settings.phone_menu_max_logins,
                        record_max_ms=settings.phone_greeting_max_seconds * 1000,
                        record_format="wav49" if fmt == "WAV" else fmt)


def staging_dir(settings: Settings) -> StagingDir:
    return StagingDir(Path(settings.phone_staging_dir), settings.phone_staging_group)


def hotdesk_service(settings: Settings, client: AmiPeer, pins: PinService, audit: AuditLog, engine: Engine,
                    clock: Callable[[], float] = time.time) -> Hotdesk:
    """Extension mobility over ``client`` (the AMI of the site this process serves: its AstDB, its devices);
    the AmiDeskDb must be attached to the client's loop."""
    from voicemail.phone.hotdesk_store import SqlHotdeskStore

    db = AmiDeskDb(client)
    store = SqlHotdeskStore(engine, site=serving_site(settings), default_site=settings.site_name)
    service = HotdeskService(pins, db, store, audit, default_context=settings.phone_default_context,
                             max_hours=settings.hotdesk_max_hours, clock=clock, site=settings.site,
                             audit_site=audit_site(settings))
    return service, db


def hotdesk_app(service: HotdeskService, db: AmiDeskDb, settings: Settings) -> AppFactory:
    """The driver's ``extension-mobility`` entry: the device is the AGI argument, believed only from a
    trusted context and only when it is a valid AstDB key."""
    trusted = frozenset(settings.phone_trusted_contexts)
    menu = menu_settings(settings)

    def start(env: dict[str, str], source: str) -> tuple[HotdeskPort, Flow[None]]:
        db.attach(asyncio.get_running_loop())
        device: str | None = env.get("agi_arg_2") or ""
        if env.get("agi_context", "") not in trusted or not KEY.match(device or ""):
            log.warning("extension mobility: call from context %r with an unusable device name refused",
                        env.get("agi_context", "")[:40])
            device = None
        return HotdeskPort(service, device or "", source=source), extension_mobility(device, menu)

    return start


async def run_hotdesk_expiry(service: HotdeskService, db: AmiDeskDb, interval: float) -> None:
    """Every ``interval`` seconds, sign out the devices signed in longer than ``hotdesk_max_hours``."""
    db.attach(asyncio.get_running_loop())
    while True:
        await asyncio.sleep(interval)
        try:
            done = await asyncio.to_thread(service.expire)
            if done:
                log.info("extension mobility: %d device(s) signed out after %s hours", done, service.max_hours)
        except Exception:
            log.exception("extension mobility: automatic sign-out failed")


def phone_menu(settings: Settings, client: AmiPeer, mailboxes: MailboxService, pins: PinService, audit: AuditLog,
               engine: Engine, on_sent: Callable[[str, str], None] | None = None,
               on_result: Callable[[str, AgiReply], None] | None = None,
               hotdesk: Hotdesk | None = None) -> MenuDriver:
    """The driver over ``client``, the AMI of the site this process serves (``settings.site``; empty: the
    default site): its callers reach that site's mailboxes, their greetings in its spool (spool_dir). Every
    staging file a crashed run left behind is removed first."""
    from voicemail.web.preferences import AccountPreferences

    staging = staging_dir(settings)
    staging.ensure()
    staging.sweep(STAGE_PREFIX)  # no call survives a restart: every menu staging file is a leftover
    sweep_scratch_recordings(Path(settings.spool_dir))
    preferences = AccountPreferences(engine)
    port_settings = PortSettings(Path(settings.spool_dir).absolute(), settings.phone_default_context,
                                 site=settings.site, audit_site=audit_site(settings))

    def timezone_of(ref: MailboxRef) -> str:
        return preferences.for_mailbox(ref)[1] or settings.default_timezone

    def make_port(source: str) -> CallPort:
        return CallPort(mailboxes, pins, staging, audit, port_settings, timezone_of, source=source)

    apps = {HOTDESK_APP: hotdesk_app(*hotdesk, settings)} if hotdesk is not None else {}
    return MenuDriver(client, make_port, menu_settings(settings), frozenset(settings.phone_trusted_contexts),
                      on_sent=on_sent, on_result=on_result, apps=apps)


def sweep_scratch_recordings(spool: Path) -> int:
    """Greeting recordings a crashed run neither kept nor removed (``<ctx>/<box>/vmmenu-*``)."""
    removed = 0
    if spool.is_dir():
        for path in spool.glob(f"*/*/{STAGE_PREFIX}*"):
            if path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)
                removed += 1
    return removed
