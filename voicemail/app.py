"""The one composition root: builds every adapter and service from Settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from sqlalchemy.engine import Engine

from mailer.registry import build_mailer
from mailer.settings import MailSettings
from voicemail.config import Settings
from voicemail.db.engine import make_store_sessions
from voicemail.db.migrate import upgrade
from voicemail.db.repository import SqlMessageStore
from voicemail.directory import CsvDirectory, EmptyDirectory
from voicemail.directory.classify import classify
from voicemail.domain.errors import ConfigError, KeyringError
from voicemail.domain.models import DirectoryEntry, MailboxRef
from voicemail.domain.ports import AsteriskControl, Directory, Mailer
from voicemail.failpoints import Failpoints
from voicemail.services.custody import Custody
from voicemail.services.discovery import Discovery
from voicemail.services.notify import Notifier, NotifySettings
from voicemail.services.vault_gc import collect_orphans
from voicemail.spool import FileSpool
from voicemail.vault import FileKeyring, FileVault

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
    keyring: FileKeyring
    directory: Directory
    mailer: Mailer
    custody: Custody
    discovery: Discovery
    notifier: Notifier
    asterisk: AsteriskControl | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()
        self.engine.dispose()
        self.read_engine.dispose()

    def collect_vault_orphans(self) -> int:
        return collect_orphans(self.vault, self.store.committed_blobs, self.settings.vault_gc_after)

    def after_fork(self) -> None:
        """A forked process must not share the parent's database connections."""
        self.engine.dispose(close=False)
        self.read_engine.dispose(close=False)


def load_directory(settings: Settings) -> Directory:
    if not settings.directory_file:
        return EmptyDirectory()
    path = Path(settings.directory_file)
    if not path.is_file():
        raise ConfigError(f"setting directory_file (VOICEMAIL_DIRECTORY_FILE): no such file: {path}")
    return CsvDirectory(path)


def open_keyring(settings: Settings) -> FileKeyring:
    path = Path(settings.keyring)
    if not path.exists():
        raise KeyringError(f"no keyring at {path}: create one with `voicemail keys init`")
    return FileKeyring(path)


def build_container(settings: Settings, on_new: Callable[[str], None], *,
                    asterisk: AsteriskControl | None = None, migrate: bool = True) -> Container:
    engine, read_engine, sessions, reads = make_store_sessions(settings.database_url)
    if migrate:
        upgrade(engine)
    store = SqlMessageStore(sessions, reads)
    spool = FileSpool(Path(settings.spool_dir), formats_hint=settings.spool_formats,
                      grace_seconds=settings.spool_grace_seconds)
    vault = FileVault(Path(settings.vault_dir))
    keyring = open_keyring(settings)
    directory = load_directory(settings)
    mailer = build_mailer(settings.mailer, directory=settings.outbox_dir, message_id_domain=settings.mail_domain)
    try:
        mail_settings = MailSettings(sender=settings.mail_sender, external_subject=settings.external_subject)
    except ConfigError as exc:
        raise ConfigError(f"settings mail_sender / external_subject (VOICEMAIL_MAIL_SENDER, "
                          f"VOICEMAIL_EXTERNAL_SUBJECT): {exc}") from None
    closers: list[Callable[[], None]] = []
    if asterisk is None and settings.ami_secret:
        lazy = LazyAsterisk(settings)
        asterisk = lazy
        closers.append(lazy.close)
    internal = frozenset(settings.internal_contexts)
    failpoints = Failpoints(settings.failpoints)
    custody = Custody(spool, vault, keyring, store, asterisk, failpoints)
    discovery = Discovery(spool, store, partial(classify, internal_contexts=internal, directory=directory), on_new)
    notifier = Notifier(store, mailer, mail_settings,
                        NotifySettings(settings.web_base_url, settings.default_timezone), directory, failpoints)
    return Container(settings, engine, read_engine, store, spool, vault, keyring, directory, mailer, custody, discovery,
                     notifier, asterisk, closers)


__all__ = ["Container", "DirectoryEntry", "build_container", "load_directory", "open_keyring", "tls_context"]
