"""Builds the lifecycle services from a Container (the composition root's parts) and settings."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from voicemail.audit.access import Access
from voicemail.audit.holds import Holds
from voicemail.audit.signing import SigningKey
from voicemail.audit.store import AuditLog
from voicemail.domain.errors import ConfigError
from voicemail.domain.ports import Shredder
from voicemail.keys.rotation import KeyRotation, RewrapReport
from voicemail.lifecycle.clock import database_clock, guard_clock
from voicemail.lifecycle.planner import Planner
from voicemail.lifecycle.policy import RetentionPolicy
from voicemail.lifecycle.quota import QuotaEnforcer
from voicemail.lifecycle.runner import RetentionRunner
from voicemail.lifecycle.warnings import ExpiryWarner
from voicemail.mailer_settings import mailer_settings

if TYPE_CHECKING:
    from voicemail.container import Container

Clock = Callable[[], float]


def shredder_of(container: Container) -> Shredder:
    if container.shredder is None:
        raise ConfigError("the crypto-shredder is not wired (voicemail.app.build_mailbox_services)")
    return container.shredder


class Lifecycle:
    """Retention, warnings and quota over one container. ``now``: epoch seconds (tests move it);
    ``db_clock``: the database server's clock that ``now`` is checked against before a retention run
    destroys anything (default: asked from the database)."""

    def __init__(self, container: Container, now: Clock = time.time, db_clock: Clock | None = None) -> None:
        self.container = container
        self.settings = container.settings
        self.engine = container.engine
        self.audit = AuditLog(self.engine)
        self.holds = Holds(self.engine, Access(self.engine, self.audit), self.settings.site_name)
        self.planner = Planner(self.engine, self.holds, RetentionPolicy.from_settings(self.settings), now,
                               default_site=self.settings.site_name)
        self.db_clock = db_clock or database_clock(self.engine)

    def runner(self, actor: str, source: str, *, page: int = 5000) -> RetentionRunner:
        """``page``: due messages read per query (the run holds one page of them)."""
        s = self.settings
        key = SigningKey.load(Path(s.audit_signing_key))
        ship = Path(s.audit_checkpoint_file) if s.audit_checkpoint_file else None
        records = Path(s.retention_records_dir) if s.retention_records_dir else None
        def clock_guard() -> None:
            guard_clock(self.planner.now, self.db_clock, s.retention_max_clock_skew, self.audit,
                        actor=actor, source=source)

        # held messages their owner deleted while Asterisk was unreachable: out of the owner's sight now
        tuck_away = getattr(self.container.mailboxes, "tuck_away_hidden", None)
        return RetentionRunner(self.engine, self.planner, shredder_of(self.container), self.audit, key,
                               actor=actor, source=source, records_dir=records, audit_ship=ship,
                               workers=s.retention_workers, batch=s.retention_batch, page=page, clock_guard=clock_guard,
                               after_run=tuck_away if callable(tuck_away) else None)

    def warner(self, *, page: int = 5000) -> ExpiryWarner:
        """``page``: messages due soon read per query (the run holds one page of them)."""
        _, sender = mailer_settings(self.settings)
        return ExpiryWarner(self.engine, self.planner, self.container.store.owner, self.container.mailer,
                            days=self.settings.retention_warn_days, sender=sender,
                            web_base_url=self.settings.web_base_url, page=page)

    def key_rotation(self) -> KeyRotation:
        s = self.settings
        return KeyRotation(self.engine, self.container.keyring, self.audit, batch=s.rewrap_batch,
                           retire_grace=s.kek_retire_grace)

    def shred_from_backups(self, actor: str, source: str) -> tuple[list[str], RewrapReport]:
        """``retention_rotate_kek``: retire the KEKs earlier runs superseded (when nothing references them
        and kek_retire_grace has passed), then rotate: the wrapped data keys of messages destroyed today
        stay only in backups, under a KEK that the next run retires."""
        rotation = self.key_rotation()
        current = self.container.keyring.current_kek_id()
        retired = [k for k in self.container.keyring.kek_ids() if k != current and rotation.retirable(k) is None]
        for kek in retired:
            rotation.retire(kek, actor, source)
        return retired, rotation.rotate(actor, source)

    def quota(self) -> QuotaEnforcer:
        s = self.settings
        return QuotaEnforcer(self.engine, self.holds, shredder_of(self.container), self.audit,
                             site_bytes=s.quota_site_bytes, mailbox_bytes=s.quota_mailbox_bytes,
                             actor="quota", source=f"quota@{socket.gethostname()}", default_site=s.site_name)


def install_quota(container: Container) -> None:
    """Enforce the vault quota after every seal of this container's custody (when a quota is set)."""
    s = container.settings
    if not (s.quota_site_bytes or s.quota_mailbox_bytes):
        return
    lifecycle = Lifecycle(container)
    enforcer: list[QuotaEnforcer] = []

    def after_seal(message_id: str) -> None:
        if not enforcer:  # built on first use: the shredder is wired after custody
            enforcer.append(lifecycle.quota())
        enforcer[0].after_seal(message_id)

    container.custody.after_seal = after_seal
    if container.batch_custody is not None:
        container.batch_custody.after_seal = after_seal
