"""The composition root's parts: every adapter and service one process uses, built by voicemail.app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from voicemail.config import Settings
from voicemail.db.repository import SqlMessageStore
from voicemail.directory import ClassificationCounters
from voicemail.domain.mailbox import MailboxService
from voicemail.domain.ports import AsteriskControl, Directory, Mailer, Shredder
from voicemail.keys.usage import CountedKeyring
from voicemail.services.custody import Custody
from voicemail.services.custody_batch import BatchCustody
from voicemail.services.discovery import Discovery
from voicemail.services.follow_up import FollowUpWorker
from voicemail.services.notify import Notifier
from voicemail.services.notify_batch import BatchNotifier
from voicemail.services.phone_pins import PinService
from voicemail.services.vault_gc import collect_orphans
from voicemail.spool import FileSpool
from voicemail.vault import FileVault


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
    # --- telephone menu: phone PINs (argon2id, lockout) ---
    pins: PinService | None = None
    # --- the phone's keys, Asterisk's side in the background: pending folder moves, shreds to finish ---
    moves: FollowUpWorker | None = None
    # --- batched custody and notification (the live pipeline's batch tasks) ---
    batch_custody: BatchCustody | None = None
    batch_notifier: BatchNotifier | None = None

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
