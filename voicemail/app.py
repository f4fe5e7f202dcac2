"""The one composition root: builds every adapter and service from Settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from mailer.registry import build_mailer
from mailer.settings import MailSettings
from voicemail.config import Settings, serving_site, site_view
from voicemail.container import Container
from voicemail.db.batch_store import SqlBatchStore
from voicemail.db.engine import make_store_sessions
from voicemail.db.forward_store import SqlForwardStore
from voicemail.db.import_store import SqlImportStore
from voicemail.db.mailbox_counts import NewMessageCounter
from voicemail.db.migrate import upgrade
from voicemail.db.repository import SqlMessageStore
from voicemail.directory import Classifier, CsvDirectory, EmptyDirectory
from voicemail.directory.db_directory import DbDirectory
from voicemail.directory.from_settings import db_directory, number_plan
from voicemail.domain.errors import ConfigError
from voicemail.domain.models import DirectoryEntry, MailboxRef
from voicemail.domain.ports import AsteriskControl, Directory
from voicemail.failpoints import Failpoints
from voicemail.keys.backend import RotatableKeyring  # lifecycle
from voicemail.keys.usage import CountedKeyring  # lifecycle
from voicemail.lifecycle.wiring import install_quota
from voicemail.mailer_settings import mailer_settings
from voicemail.phone.driver import AmiPeer, MenuDriver
from voicemail.phone.wiring import Hotdesk
from voicemail.services.custody import Custody
from voicemail.services.custody_batch import BatchCustody
from voicemail.services.discovery import Discovery
from voicemail.services.notify import Notifier, NotifySettings
from voicemail.services.notify_batch import BatchNotifier
from voicemail.services.spool_import import SpoolImport
from voicemail.spool import FileSpool
from voicemail.vault import FileVault
from voicemail.web.preferences import AccountPreferences

log = logging.getLogger(__name__)


class LazyAsterisk:
    """AsteriskControl over a blocking AMI connection opened on first use (workers rarely need it)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ami: object | None = None

    def _client(self) -> object:
        if self._ami is None:
            from voicemail.ami.blocking import BlockingAmi

            s = self._settings
            self._ami = BlockingAmi(s.ami_host, s.ami_port, s.ami_username, s.ami_secret,
                                    ssl=tls_context(s))
        return self._ami

    def refresh(self, mailbox: MailboxRef) -> None:
        client = self._client()
        client.call("VoicemailRefresh", {"Context": mailbox.context, "Mailbox": mailbox.mailbox},  # type: ignore[attr-defined]
                    timeout=10.0)

    def close(self) -> None:
        if self._ami is not None:
            self._ami.close()  # type: ignore[attr-defined]


def tls_context(settings: Settings) -> object | None:
    if not settings.ami_tls:
        return None
    import ssl

    ctx = ssl.create_default_context(cafile=settings.ami_tls_ca_file or None)
    if not settings.ami_tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def load_directory(settings: Settings, reads: sessionmaker[Session] | None = None) -> Directory:
    """LDAP sites: the copy synced into the database (needs ``reads``); else the CSV file; else nobody."""
    # --- directory (LDAP) ---
    if settings.ldap_url:
        if reads is None:
            raise ConfigError("setting ldap_url (VOICEMAIL_LDAP_URL): the synced directory needs the database")
        return db_directory(settings, reads)
    if not settings.directory_file:
        return EmptyDirectory()
    path = Path(settings.directory_file)
    if not path.is_file():
        raise ConfigError(f"setting directory_file (VOICEMAIL_DIRECTORY_FILE): no such file: {path}")
    return CsvDirectory(path, plan=number_plan(settings))


def open_keyring(settings: Settings) -> RotatableKeyring:
    # --- lifecycle: keyring backend (file or pkcs11), FIPS check ---
    from voicemail.keys.backend import open_backend
    from voicemail.keys.fips import require_fips

    require_fips(settings)
    return open_backend(settings)


def build_container(settings: Settings, on_new: Callable[[str], None], *,
                    asterisk: AsteriskControl | None = None, migrate: bool = True,
                    on_new_batch: Callable[[list[str]], None] | None = None) -> Container:
    """``on_new`` hands one discovered message to custody; ``on_new_batch``, when given, hands over all the
    messages one scan discovered (in batches of custody_batch_size) instead."""
    engine, read_engine, sessions, reads = make_store_sessions(settings.database_url)
    if migrate:
        upgrade(engine, settings.site_name)
    store = SqlMessageStore(sessions, reads, site=serving_site(settings), default_site=settings.site_name)
    failpoints = Failpoints(settings.failpoints)
    spool = FileSpool(Path(settings.spool_dir), formats_hint=settings.spool_formats,
                      grace_seconds=settings.spool_grace_seconds,
                      after_swap=(lambda: failpoints.hit("strip.after_swap")) if failpoints else None)
    vault = FileVault(Path(settings.vault_dir))
    # --- lifecycle: every wrap counted durably against kek_max_wraps ---
    from voicemail.keys.usage import UsageCounter

    inner = open_keyring(settings)
    keyring = CountedKeyring(inner, UsageCounter(engine, settings.kek_max_wraps, inner.backend))
    directory = load_directory(settings, reads)
    sender_settings, mail_from = mailer_settings(settings)
    mailer = build_mailer(settings.mailer, **sender_settings)
    try:
        mail_settings = MailSettings(sender=mail_from, external_subject=settings.external_subject)
    except ConfigError as exc:
        raise ConfigError(f"settings mail_sender / external_subject (VOICEMAIL_MAIL_SENDER, "
                          f"VOICEMAIL_EXTERNAL_SUBJECT): {exc}") from None
    closers: list[Callable[[], None]] = []
    close_mailer = getattr(mailer, "close", None)
    if callable(close_mailer):
        closers.append(close_mailer)
    if asterisk is None and settings.ami_secret:
        lazy = LazyAsterisk(settings)
        asterisk = lazy
        closers.append(lazy.close)
    internal = frozenset(settings.internal_contexts)
    custody = Custody(spool, vault, keyring, store, asterisk, failpoints,
                      max_unfinished_runs=settings.custody_max_unfinished,
                      heartbeat_every=settings.stale_after / 4)
    classifier = Classifier(internal, directory)
    batch_store = SqlBatchStore(sessions, reads, site=serving_site(settings), default_site=settings.site_name)
    discovery = Discovery(spool, store, classifier, on_new,
                          import_cutoff=SqlImportStore(reads).unfinished_cutoff,
                          on_new_batch=on_new_batch, batch_store=batch_store, batch_size=settings.custody_batch_size)
    # Mailbox owners' addresses may come from a synced directory that is too old to decide who is internal.
    owners = directory.owners() if isinstance(directory, DbDirectory) else directory
    forwards = SqlForwardStore(sessions, reads, site=serving_site(settings), default_site=settings.site_name)
    notifier = Notifier(store, mailer, mail_settings,
                        NotifySettings(settings.web_base_url, settings.default_timezone, settings.stale_after,
                                       play_on_phone=bool(settings.phone_device_template)),
                        owners, failpoints,
                        preferences=AccountPreferences(engine),
                        new_messages=NewMessageCounter(engine, settings.site_name),
                        forward_note=forwards.note, forward_notes=forwards.notes)
    container = Container(settings, engine, read_engine, store, spool, vault, keyring, directory, mailer, custody,
                          discovery, notifier, asterisk, closers, classification=classifier.counters)
    container.batch_custody = BatchCustody(spool, vault, keyring, batch_store, asterisk, failpoints,
                                           heartbeat_every=settings.stale_after / 4,
                                           batch_size=settings.custody_batch_size)
    container.batch_notifier = BatchNotifier(notifier, batch_store, mailer, settings.stale_after, failpoints)
    build_mailbox_services(container, sessions, reads)  # mailbox services
    # --- lifecycle: the vault quota is enforced after each seal ---
    install_quota(container)
    return container


# --- spool import ----------------------------------------------------------------------
def build_spool_import(container: Container, *, batch_size: int, rate: float,
                       threads: int = 8) -> tuple[SpoolImport, SqlImportStore]:
    """`voicemail import`: the importer over the container's spool, vault and keyring, and its store."""
    from voicemail.db.engine import make_sessionmaker

    s = container.settings
    store = SqlImportStore(make_sessionmaker(container.engine), site=serving_site(s))
    classify = Classifier(frozenset(s.internal_contexts), container.directory)
    importer = SpoolImport(container.spool, container.vault, container.keyring, store, classify,
                           batch_size=batch_size, rate=rate, threads=threads,
                           failpoints=Failpoints(s.failpoints))
    return importer, store


# --- mailbox services ------------------------------------------------------------------
def build_mailbox_services(container: Container, sessions: sessionmaker[Session],
                           reads: sessionmaker[Session]) -> None:
    """Sets ``container.shredder`` (CryptoShredder) and ``container.mailboxes`` (MailboxServices). The AMI
    connection they use is opened on first use; play-on-phone is on when phone_device_template is set."""
    from voicemail.ami.blocking import BlockingAmi
    from voicemail.ami.mailbox_control import AmiMailboxControl
    from voicemail.ami.site_control import MailboxControl, SiteMailboxControl, SiteSpool
    from voicemail.audit.access import Access
    from voicemail.audit.holds import Holds
    from voicemail.audit.store import AuditLog
    from voicemail.db.mailbox_store import SqlMailboxStore, calls_of
    from voicemail.services.mailbox import MailboxServices, SpoolFinder
    from voicemail.services.phone_playback import PhonePlayback
    from voicemail.services.playback import AudioSource
    from voicemail.services.shred import CryptoShredder

    s, engine = container.settings, container.engine
    rows = SqlMailboxStore(sessions, reads, default_site=s.site_name)
    audit = AuditLog(engine)
    holds = Holds(engine, Access(engine, audit))
    control: AmiMailboxControl | None = None
    if s.ami_secret:
        control = AmiMailboxControl(lambda: BlockingAmi(s.ami_host, s.ami_port, s.ami_username, s.ami_secret,
                                                        ssl=tls_context(s)))
        container.closers.append(control.close)
    # --- several sites: each message's Asterisk for its mailbox actions, the spool only of the served site ---
    controls: dict[str, MailboxControl] = {serving_site(s): control} if control is not None else {}
    for site in s.sites:
        if site.ami_secret:
            view = site_view(s, site)
            other = AmiMailboxControl(lambda v=view: BlockingAmi(v.ami_host, v.ami_port, v.ami_username,  # type: ignore[misc]
                                                                  v.ami_secret, ssl=tls_context(v)))
            controls[site.name] = other
            container.closers.append(other.close)
    sited: MailboxControl | None = control
    spool: SpoolFinder = container.spool
    if s.sites:  # one site: the control and spool as they are
        sited = SiteMailboxControl(controls, s.site_name) if controls else None
        spool = SiteSpool(container.spool, serving_site(s), s.site_name)
    container.shredder = CryptoShredder(rows, container.vault, holds, audit, sited)
    phone: PhonePlayback | None = None
    if s.phone_device_template and control is not None and not s.site:  # the default site's Asterisk calls
        template = s.phone_device_template
        phone = PhonePlayback(Path(s.phone_staging_dir), container.keyring, container.vault.path_for, control,
                              lambda box: template.format(mailbox=box.mailbox, context=box.context),
                              ring_timeout=s.phone_ring_timeout, max_age=s.phone_staging_max_age,
                              group=s.phone_staging_group)
        phone.sweep()
    container.mailboxes = services = MailboxServices(
        rows, AudioSource(container.keyring, container.vault.path_for), container.shredder, holds, audit,
        control=sited, spool=spool, calls=lambda n, d, o, lim: calls_of(engine, n, d, o, lim),
        phone=phone, admin_sees_external=s.inbox_admin_sees_external, call_device_template=s.calls_device_template)
    if control is not None:  # forwarding: Asterisk's VoicemailForward beside a copy in the vault
        from voicemail.services.forward import Forwarder, ForwardQuota
        from voicemail.services.forward_arrivals import ForwardArrivals

        def owner_name(box: MailboxRef) -> str:
            owner = container.store.owner(box)
            return owner.fullname if owner is not None else ""

        forwards = SqlForwardStore(sessions, reads, site=serving_site(s), default_site=s.site_name)
        notify = notification_sender(s)
        services.forwarder = Forwarder(forwards, container.vault, container.keyring, control, container.spool, audit,
                                       quota=ForwardQuota(s.quota_mailbox_bytes, s.quota_site_bytes),
                                       owner_name=owner_name, notify=notify)
        container.discovery.forwards = ForwardArrivals(forwards, container.spool, container.vault, audit,
                                                       notify=notify)
    # --- telephone menu: the PINs it checks (also set from the CLI and the web settings page) ---
    from voicemail.phone.wiring import pin_service

    container.pins = pin_service(s, engine, audit)


def notification_sender(s: Settings) -> Callable[[str], None] | None:
    """Hands a due notification to the workers at once when there is a broker; without one (embedded) the
    running service's sweeper sends it (it is created due)."""
    if not s.broker_url:
        return None

    def send(notification_id: str) -> None:
        from workers.tasks import send_notification

        send_notification.delay(notification_id)

    return send


def build_hotdesk(container: Container, client: AmiPeer) -> Hotdesk:
    """Extension mobility over ``client`` (the service's AmiClient): the driver's ``extension-mobility``
    calls and the automatic sign-out of ``voicemail run``."""
    from voicemail.audit.store import AuditLog
    from voicemail.phone.wiring import hotdesk_service

    if container.pins is None:
        raise ConfigError("extension mobility needs the phone PINs")
    return hotdesk_service(container.settings, client, container.pins, AuditLog(container.engine), container.engine)


def build_phone_menu(container: Container, client: AmiPeer, hotdesk: Hotdesk | None = None) -> MenuDriver:
    """The telephone menu's Async AGI driver over ``client`` (the service's AmiClient); ``voicemail run``
    starts it beside the listener."""
    from voicemail.audit.store import AuditLog
    from voicemail.phone.wiring import phone_menu

    if container.mailboxes is None or container.pins is None:
        raise ConfigError("the telephone menu needs the mailbox services")
    return phone_menu(container.settings, client, container.mailboxes, container.pins, AuditLog(container.engine),
                      container.engine, hotdesk=hotdesk)


__all__ = ["Container", "DirectoryEntry", "build_container", "build_hotdesk", "build_phone_menu", "load_directory",
           "mailer_settings", "open_keyring", "tls_context"]
