"""The one composition root: builds every adapter and service from Settings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from mailer.registry import build_mailer
from mailer.settings import MailSettings
from voicemail.config import Settings, serving_site, several_sites, site_names, site_phone, site_view
from voicemail.container import Container
from voicemail.db.batch_store import SqlBatchStore
from voicemail.db.engine import make_store_sessions
from voicemail.db.forward_store import SqlForwardStore
from voicemail.db.import_store import SqlImportStore
from voicemail.db.listener_lease import WriteFence
from voicemail.db.mailbox_counts import NewMessageCounter
from voicemail.db.migrate import upgrade
from voicemail.db.repository import SqlMessageStore
from voicemail.db.site_history import SiteHistory
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

if TYPE_CHECKING:
    from voicemail.services.phone_playback import Originator
    from voicemail.services.shred import HandOff
    from voicemail.services.site_phones import SitePhones

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
                    on_new_batch: Callable[[list[str]], None] | None = None,
                    on_shred_elsewhere: HandOff | None = None, fence: WriteFence | None = None) -> Container:
    """``on_new`` hands one discovered message to custody; ``on_new_batch``, when given, hands over all the
    messages one scan discovered (in batches of custody_batch_size) instead. ``on_shred_elsewhere``: with
    several sites, hands the rest of a shred of another site's message to that site's workers
    (workers.tasks.enqueue_finish_shred; None: that site's `voicemail run` finishes it). ``fence``: in the
    listener (`voicemail run`), its lease, checked inside the transactions that record discovered messages
    and mailbox owners; None everywhere else."""
    engine, read_engine, sessions, reads = make_store_sessions(settings.database_url)
    if migrate:
        upgrade(engine, settings.site_name)
    store = SqlMessageStore(sessions, reads, site=serving_site(settings), default_site=settings.site_name,
                            fence=fence)
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
    batch_store = SqlBatchStore(sessions, reads, site=serving_site(settings), default_site=settings.site_name,
                                fence=fence)
    discovery = Discovery(spool, store, classifier, on_new,
                          import_cutoff=SqlImportStore(reads, site=serving_site(settings)).unfinished_cutoff,
                          on_new_batch=on_new_batch, batch_store=batch_store, batch_size=settings.custody_batch_size)
    # Mailbox owners' addresses may come from a synced directory that is too old to decide who is internal.
    owners = directory.owners() if isinstance(directory, DbDirectory) else directory
    forwards = SqlForwardStore(sessions, reads, site=serving_site(settings), default_site=settings.site_name)
    notifier = Notifier(store, mailer, mail_settings,
                        NotifySettings(settings.web_base_url, settings.default_timezone, settings.stale_after,
                                       play_on_phone=bool(settings.phone_device_template),
                                       default_site=settings.site_name if several_sites(settings) else None,
                                       phone_sites=phone_sites(settings)),
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
    build_mailbox_services(container, sessions, reads, on_shred_elsewhere)  # mailbox services
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
                           reads: sessionmaker[Session], hand_off: HandOff | None = None) -> None:
    """Sets ``container.shredder`` (CryptoShredder) and ``container.mailboxes`` (MailboxServices). The AMI
    connection they use is opened on first use; play-on-phone is on when phone_device_template is set.
    With several sites the shredder removes only the served site's envelopes; another site's shred is
    handed to that site (``hand_off``, see voicemail.services.shred)."""
    from voicemail.ami.blocking import BlockingAmi
    from voicemail.ami.mailbox_control import AmiMailboxControl
    from voicemail.ami.site_control import MailboxControl, SiteMailboxControl, SiteSpool
    from voicemail.audit.access import Access
    from voicemail.audit.holds import Holds
    from voicemail.audit.store import AuditLog
    from voicemail.db.mailbox_store import SqlMailboxStore, calls_of
    from voicemail.services.mailbox import MailboxServices
    from voicemail.services.phone_playback import PhonePlayback, PhonePlayer
    from voicemail.services.playback import AudioSource
    from voicemail.services.shred import CryptoShredder, ShredSites

    s, engine = container.settings, container.engine
    rows = SqlMailboxStore(sessions, reads, default_site=s.site_name,
                           served_site=serving_site(s) if s.sites else None)
    audit = AuditLog(engine)
    holds = Holds(engine, Access(engine, audit), s.site_name)
    control: AmiMailboxControl | None = None
    if s.ami_secret:
        control = AmiMailboxControl(lambda: BlockingAmi(s.ami_host, s.ami_port, s.ami_username, s.ami_secret,
                                                        ssl=tls_context(s)))
        container.closers.append(control.close)
    # --- several sites: each message's Asterisk for its mailbox actions, the spool only of the served site ---
    ami_controls: dict[str, AmiMailboxControl] = {serving_site(s): control} if control is not None else {}
    for site in s.sites:
        if site.ami_secret:
            view = site_view(s, site)
            other = AmiMailboxControl(lambda v=view: BlockingAmi(v.ami_host, v.ami_port, v.ami_username,  # type: ignore[misc]
                                                                  v.ami_secret, ssl=tls_context(v)))
            ami_controls[site.name] = other
            container.closers.append(other.close)
    controls: dict[str, MailboxControl] = dict(ami_controls)
    sited: MailboxControl | None = control
    spool: SiteSpool | FileSpool = container.spool
    if s.sites:  # one site: the control and spool as they are
        sited = SiteMailboxControl(controls, s.site_name) if controls else None
        spool = SiteSpool(container.spool, serving_site(s), s.site_name)
    sites = ShredSites(serving_site(s), s.site_name, hand_off) if s.sites else None
    container.shredder = CryptoShredder(rows, container.vault, holds, audit, sited, sites=sites)
    phone: PhonePlayer | None = None
    if s.sites:  # each message's own Asterisk calls its owner's phone
        phone = site_phones(container, ami_controls)
    elif s.phone_device_template and control is not None:
        template = s.phone_device_template
        phone = PhonePlayback(Path(s.phone_staging_dir), container.keyring, container.vault.path_for, control,
                              lambda box: template.format(mailbox=box.mailbox, context=box.context),
                              ring_timeout=s.phone_ring_timeout, max_age=s.phone_staging_max_age,
                              group=s.phone_staging_group)
        phone.sweep()
    # --- pending folder moves: the phone's save is recorded at once, Asterisk's folder follows in the background ---
    pending = None
    if sited is not None:
        from voicemail.db.pending_moves import SqlPendingMoves
        from voicemail.services.folder_moves import FolderMoves
        from voicemail.services.follow_up import FollowUpWorker
        from voicemail.services.mailbox import HOLD_FOLDER

        pending = SqlPendingMoves(sessions, audit, default_site=s.site_name, site=serving_site(s))
        moves = FolderMoves(pending, sited, spool, failpoints=Failpoints(s.failpoints), hold_folder=HOLD_FOLDER)
        container.moves = FollowUpWorker(moves, container.shredder, rows, source=f"voicemail run {serving_site(s)}")
        container.closers.insert(0, container.moves.close)  # before the AMI connection it uses is closed
    container.mailboxes = services = MailboxServices(
        rows, AudioSource(container.keyring, container.vault.path_for), container.shredder, holds, audit,
        control=sited, spool=spool, calls=lambda scopes, o, lim: calls_of(engine, scopes, o, lim),
        phone=phone, admin_sees_external=s.inbox_admin_sees_external, call_device_template=s.calls_device_template,
        moves=pending, default_site=s.site_name)
    if container.moves is not None:
        services.on_move_recorded = container.moves.wake
        services.on_shred_started = container.moves.finish_shred
    if ami_controls:  # forwarding: Asterisk's VoicemailForward beside a copy in the vault, within one site
        from voicemail.ami.site_control import SiteForwardControl
        from voicemail.services.forward import ForwardControl, Forwarder, ForwardQuota
        from voicemail.services.forward_arrivals import ForwardArrivals

        def owner_name(box: MailboxRef) -> str:
            owner = container.store.owner(box)
            return owner.fullname if owner is not None else ""

        forwards = SqlForwardStore(sessions, reads, site=serving_site(s), default_site=s.site_name)
        notify = notification_sender(s)
        forwarding: ForwardControl | None = control
        if s.sites:  # each mailbox's own Asterisk (its spool only when this process serves its site)
            forwarding = SiteForwardControl(ami_controls, s.site_name)
        assert forwarding is not None
        services.forwarder = Forwarder(forwards, container.vault, container.keyring, forwarding, spool, audit,
                                       quota=ForwardQuota(s.quota_mailbox_bytes, s.quota_site_bytes),
                                       owner_name=owner_name, notify=notify, default_site=s.site_name)
        container.discovery.forwards = ForwardArrivals(forwards, container.spool, container.vault, audit,
                                                       notify=notify)
    # --- telephone menu: the PINs it checks (also set from the CLI and the web settings page) ---
    from voicemail.phone.wiring import pin_service

    container.pins = pin_service(s, engine, audit)


def phone_sites(s: Settings) -> frozenset[str] | None:
    """With several sites, those whose owners' phones "Play on my phone" can ring (a site's own device template,
    else the global one); None with one site."""
    if not several_sites(s):
        return None
    return frozenset(name for name in site_names(s) if site_phone(s, name)[0])


def site_phones(container: Container, controls: Mapping[str, Originator]) -> SitePhones | None:
    """"Play on my phone" of every site: each site's calls placed over its AMI connection (``controls``, the
    sites whose secret this host has), to the device its template names (the site's own
    phone_device_template, else the global one). None when no site can play."""
    from voicemail.services.phone_calls import CallBook
    from voicemail.services.phone_playback import PhonePlayback
    from voicemail.services.site_phones import SitePhones

    s = container.settings
    calls = CallBook()
    players: dict[str, PhonePlayback] = {}
    refusals: dict[str, str] = {}
    for name in site_names(s):
        template, staging = site_phone(s, name)
        originator = controls.get(name)
        if not template:
            refusals[name] = f"Play on my phone is not set up for site {name!r}"
        elif originator is None:
            refusals[name] = f"no AMI connection is configured for site {name!r}"
        else:
            players[name] = PhonePlayback(
                Path(staging), container.keyring, container.vault.path_for, originator,
                lambda box, t=template: t.format(mailbox=box.mailbox, context=box.context),  # type: ignore[misc]
                ring_timeout=s.phone_ring_timeout, max_age=s.phone_staging_max_age, group=s.phone_staging_group,
                calls=calls)
    if not players:
        return None
    phones = SitePhones(players, refusals, s.site_name, calls)
    phones.sweep()
    return phones


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


def check_first_start(container: Container) -> None:
    """Refuse (FirstStartBacklog) to take custody of a backlog on a site the database never served
    (voicemail.services.first_start): before `voicemail run` connects to Asterisk, and before each
    reconciliation pass of a worker or of `voicemail reconcile`, which would take custody of the same
    backlog and announce it. Nothing is recorded before this."""
    from voicemail.services.first_start import FirstStartGuard

    history = SiteHistory(container.engine)
    guard = FirstStartGuard(history.served_before, lambda limit: container.spool.count_envelopes(limit))
    guard.check(serving_site(container.settings), container.settings.first_start_backlog)
