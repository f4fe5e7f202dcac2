"""The one composition root: builds every adapter and service from Settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailer.registry import build_mailer
from mailer.settings import MailSettings
from voicemail.config import Settings
from voicemail.db.engine import make_store_sessions
from voicemail.db.migrate import upgrade
from voicemail.db.repository import SqlMessageStore
from voicemail.directory import ClassificationCounters, Classifier, CsvDirectory, EmptyDirectory
from voicemail.directory.db_directory import DbDirectory
from voicemail.directory.from_settings import db_directory, number_plan
from voicemail.domain.errors import ConfigError
from voicemail.domain.mailbox import MailboxService  # mailbox services
from voicemail.domain.models import DirectoryEntry, MailboxRef
from voicemail.domain.ports import AsteriskControl, Directory, Mailer, Shredder
from voicemail.failpoints import Failpoints
from voicemail.keys.backend import RotatableKeyring  # lifecycle
from voicemail.keys.usage import CountedKeyring  # lifecycle
from voicemail.services.custody import Custody
from voicemail.services.discovery import Discovery
from voicemail.services.notify import Notifier, NotifySettings
from voicemail.services.vault_gc import collect_orphans
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


@dataclass
class Container:
    settings: Settings
    engine: Engine
    read_engine: Engine
    store: SqlMessageStore
    spool: FileSpool
    vault: FileVault
    keyring: CountedKeyring  # every wrap counted against kek_max_wraps
    directory: Directory
    mailer: Mailer
    custody: Custody
    discovery: Discovery
    notifier: Notifier
    asterisk: AsteriskControl | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    classification: ClassificationCounters = field(default_factory=ClassificationCounters)
    # --- mailbox services: the web inbox's operations and the crypto-shredder ---
    mailboxes: MailboxService | None = None
    shredder: Shredder | None = None

    def close(self) -> None:
        for close in self.closers:
            close()
        self.engine.dispose()
        self.read_engine.dispose()

    def collect_vault_orphans(self) -> int:
        return collect_orphans(self.vault, self.store.vault_references, self.settings.vault_gc_after)

    def after_fork(self) -> None:
        """A forked process must not share the parent's database connections."""
        self.engine.dispose(close=False)
        self.read_engine.dispose(close=False)


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


# --- mail backends -------------------------------------------------------------------------------
def mailer_settings(settings: Settings) -> tuple[dict[str, object], str]:
    """The keyword settings of the chosen sender (mailer.registry.build_mailer) and its From address
    (the backend's own sender setting, else mail_sender)."""
    s = settings
    if s.mailer == "ews":
        sender = s.ews_sender or s.mail_sender
        return {"endpoint": s.ews_endpoint, "sender": sender, "username": s.ews_username,
                "password": s.ews_password, "auth": s.ews_auth, "version": s.ews_version,
                "tenant_id": s.ews_tenant_id, "authority": s.graph_authority, "timeout": s.mail_timeout}, sender
    if s.mailer == "graph":
        sender = s.graph_sender or s.mail_sender
        return {"tenant_id": s.graph_tenant_id, "client_id": s.graph_client_id,
                "client_secret": s.graph_client_secret, "sender": sender, "authority": s.graph_authority,
                "endpoint": s.graph_endpoint, "timeout": s.mail_timeout}, sender
    if s.mailer == "smtp":
        sender = s.smtp_sender or s.mail_sender
        return {"host": s.smtp_host, "port": s.smtp_port, "tls": s.smtp_tls, "username": s.smtp_username,
                "password": s.smtp_password, "sender": sender, "ca_file": s.smtp_ca_file,
                "timeout": s.mail_timeout, "message_id_domain": s.mail_domain}, sender
    return {"directory": s.outbox_dir, "message_id_domain": s.mail_domain}, s.mail_sender


def build_container(settings: Settings, on_new: Callable[[str], None], *,
                    asterisk: AsteriskControl | None = None, migrate: bool = True) -> Container:
    engine, read_engine, sessions, reads = make_store_sessions(settings.database_url)
    if migrate:
        upgrade(engine)
    store = SqlMessageStore(sessions, reads)
    spool = FileSpool(Path(settings.spool_dir), formats_hint=settings.spool_formats,
                      grace_seconds=settings.spool_grace_seconds)
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
    failpoints = Failpoints(settings.failpoints)
    custody = Custody(spool, vault, keyring, store, asterisk, failpoints,
                      max_unfinished_runs=settings.custody_max_unfinished,
                      heartbeat_every=settings.stale_after / 4)
    classifier = Classifier(internal, directory)
    discovery = Discovery(spool, store, classifier, on_new)
    # Mailbox owners' addresses may come from a synced directory that is too old to decide who is internal.
    owners = directory.owners() if isinstance(directory, DbDirectory) else directory
    notifier = Notifier(store, mailer, mail_settings,
                        NotifySettings(settings.web_base_url, settings.default_timezone, settings.stale_after),
                        owners, failpoints,
                        preferences=AccountPreferences(engine))
    container = Container(settings, engine, read_engine, store, spool, vault, keyring, directory, mailer, custody,
                          discovery, notifier, asterisk, closers, classification=classifier.counters)
    build_mailbox_services(container, sessions, reads)  # mailbox services
    # --- lifecycle: the vault quota is enforced after each seal ---
    from voicemail.lifecycle.wiring import install_quota

    install_quota(container)
    return container


# --- mailbox services ------------------------------------------------------------------
def build_mailbox_services(container: Container, sessions: sessionmaker[Session],
                           reads: sessionmaker[Session]) -> None:
    """Sets ``container.shredder`` (CryptoShredder) and ``container.mailboxes`` (MailboxServices). The AMI
    connection they use is opened on first use; play-on-phone is on when phone_device_template is set."""
    from voicemail.ami.blocking import BlockingAmi
    from voicemail.ami.mailbox_control import AmiMailboxControl
    from voicemail.audit.access import Access
    from voicemail.audit.holds import Holds
    from voicemail.audit.store import AuditLog
    from voicemail.db.mailbox_store import SqlMailboxStore, calls_of
    from voicemail.services.mailbox import MailboxServices
    from voicemail.services.phone_playback import PhonePlayback
    from voicemail.services.playback import AudioSource
    from voicemail.services.shred import CryptoShredder

    s, engine = container.settings, container.engine
    rows = SqlMailboxStore(sessions, reads)
    audit = AuditLog(engine)
    holds = Holds(engine, Access(engine, audit))
    control: AmiMailboxControl | None = None
    if s.ami_secret:
        control = AmiMailboxControl(lambda: BlockingAmi(s.ami_host, s.ami_port, s.ami_username, s.ami_secret,
                                                        ssl=tls_context(s)))
        container.closers.append(control.close)
    container.shredder = CryptoShredder(rows, container.vault, holds, audit, control)
    phone: PhonePlayback | None = None
    if s.phone_device_template and control is not None:
        template = s.phone_device_template
        phone = PhonePlayback(Path(s.phone_staging_dir), container.keyring, container.vault.path_for, control,
                              lambda box: template.format(mailbox=box.mailbox, context=box.context),
                              ring_timeout=s.phone_ring_timeout, max_age=s.phone_staging_max_age)
        phone.sweep()
    container.mailboxes = MailboxServices(
        rows, AudioSource(container.keyring, container.vault.path_for), container.shredder, holds, audit,
        control=control, spool=container.spool, calls=lambda n, o, lim: calls_of(engine, n, o, lim), phone=phone,
        admin_sees_external=s.inbox_admin_sees_external)


__all__ = ["Container", "DirectoryEntry", "build_container", "load_directory", "mailer_settings", "open_keyring",
           "tls_context"]
