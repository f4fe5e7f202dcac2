"""SQLAlchemy 2 models. The message row is the transactional outbox of the custody pipeline."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- mailbox services ---
# The rows the inbox lists (a literal, so that PostgreSQL can prove it implies the partial indexes' predicate
# whatever the driver binds) and the indexes it walks; migration 0006 created them, 0015 put the site first.
LISTED = "state IN ('discovered', 'sealed', 'stripped') AND hidden_at IS NULL"
INBOX_INDEXES = {
    "ix_messages_box_time": ("site", "context", "mailbox", "origtime", "id"),
    "ix_messages_box_folder_time": ("site", "context", "mailbox", "folder", "origtime", "id"),
    "ix_messages_box_duration": ("site", "context", "mailbox", "duration", "origtime", "id"),
    "ix_messages_box_count": ("site", "context", "mailbox", "folder"),  # narrow: totals by index-only scan
}


def _withheld_default(context: Any) -> bool:
    """``caller_withheld`` from the row's ``callerid_raw`` (mailbox services)."""
    from voicemail.spool.envelope import parse_callerid

    raw = context.get_current_parameters().get("callerid_raw") or ""
    return parse_callerid(str(raw))[1] is None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class MailboxRow(Base):
    __tablename__ = "mailboxes"
    __table_args__ = (UniqueConstraint("site", "context", "mailbox"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site: Mapped[str] = mapped_column(String(64), server_default="default")  # the Asterisk it lives on
    context: Mapped[str] = mapped_column(String(80))
    mailbox: Mapped[str] = mapped_column(String(80))
    fullname: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MessageRow(Base):
    """One voicemail message, identified by Asterisk's msg_id within its mailbox.

    state: discovered -> sealed -> stripped (-> deleted); ``rejected`` = left untouched (malformed).
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("site", "context", "mailbox", "msg_id"),
        # --- mailbox services: the inbox's orderings within one mailbox, listed rows only ---
        *(Index(name, *columns, postgresql_where=text(LISTED), sqlite_where=text(LISTED),
                postgresql_include=["urgent", "caller_kind", "caller_withheld"])
          for name, columns in INBOX_INDEXES.items()),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site: Mapped[str] = mapped_column(String(64), server_default="default")  # the Asterisk it was left on
    context: Mapped[str] = mapped_column(String(80))
    mailbox: Mapped[str] = mapped_column(String(80))
    msg_id: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16), index=True)
    folder: Mapped[str] = mapped_column(String(16), default="INBOX")
    spool_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    origtime: Mapped[int] = mapped_column(BigInteger)
    duration: Mapped[int] = mapped_column(Integer, default=0)
    urgent: Mapped[bool] = mapped_column(default=False)
    caller_context: Mapped[str] = mapped_column(String(80), default="")
    callerid_raw: Mapped[str] = mapped_column(Text, default="")  # caller-controlled; never logged
    caller_kind: Mapped[str] = mapped_column(String(10), default="external")
    caller_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    caller_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    envelope: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    kek_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # custody runs started and not finished cleanly: a run that killed its worker stays counted
    deliveries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # the attempt token of the newest custody run: its blob names carry it, only that run may commit
    seal_attempt: Mapped[str] = mapped_column(String(16), default="", server_default="")
    # a failed run is retried at this time; the sweeper leaves the message alone until then
    retry_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    discovered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sealed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    stripped_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # --- mailbox services ---
    # deleted by the owner while a legal hold covers it: kept, never shown to anyone in the inbox
    hidden_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # crypto-shredded (state "destroyed"): key, blobs, spool envelope and caller data gone; a tombstone
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # the caller sent no usable number (anonymous / withheld), derived from callerid_raw at insert
    caller_withheld: Mapped[bool] = mapped_column(default=_withheld_default, server_default=false())

    recordings: Mapped[list[RecordingRow]] = relationship(
        back_populates="message", cascade="all, delete-orphan", lazy="joined")


class RecordingRow(Base):
    """One format of a message, sealed in the vault."""

    __tablename__ = "recordings"
    __table_args__ = (UniqueConstraint("message_id", "fmt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    fmt: Mapped[str] = mapped_column(String(16))
    blob_name: Mapped[str] = mapped_column(String(120))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    message: Mapped[MessageRow] = relationship(back_populates="recordings")


class NotificationRow(Base):
    """The notification of one message: pending -> sending -> sent | failed."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    state: Mapped[str] = mapped_column(String(10), index=True)
    recipient: Mapped[str] = mapped_column(String(320), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # the fencing token of the newest claim, and how long that claim holds (state "sending")
    lease_token: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DeadLetterRow(Base):
    """Work that kept failing, parked for an administrator: never dropped."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task: Mapped[str] = mapped_column(String(80))
    ref_id: Mapped[str] = mapped_column(String(64), index=True)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# --- directory (LDAP) ---------------------------------------------------------------------------


class DirectoryUserRow(Base):
    """A user synchronised from the directory (LDAP). Internal-capable only when enabled and not removed
    (removed = no longer returned by the directory: deleted, or now outside the base DN / filter)."""

    __tablename__ = "directory_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ext_id: Mapped[str] = mapped_column(String(128), unique=True)  # objectGUID (hex) / entryUUID
    dn: Mapped[str] = mapped_column(Text, default="")
    account: Mapped[str] = mapped_column(String(256), default="")
    account_key: Mapped[str] = mapped_column(String(256), default="", index=True)  # lower-cased
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    email_key: Mapped[str] = mapped_column(String(320), default="", index=True)  # lower-cased
    employee_id: Mapped[str] = mapped_column(String(64), default="")
    office: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(default=False)
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    change_mark: Mapped[str] = mapped_column(String(64), default="")
    seen_run: Mapped[int] = mapped_column(Integer, default=0, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DirectoryNumberRow(Base):
    """One phone number of a synced user, under its number-plan key (the lookup index)."""

    __tablename__ = "directory_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("directory_users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # phone | ip_phone | mobile
    raw: Mapped[str] = mapped_column(String(64))
    number_key: Mapped[str] = mapped_column(String(64), index=True)


class DirectorySyncStateRow(Base):
    """Progress of the directory sync: the lease, the incremental high-water mark, the last success."""

    __tablename__ = "directory_sync_state"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    run: Mapped[int] = mapped_column(Integer, default=0)
    running_since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    high_water: Mapped[str] = mapped_column(String(64), default="")
    source_key: Mapped[str] = mapped_column(String(64), default="")
    server_id: Mapped[str] = mapped_column(Text, default="")
    plan_fingerprint: Mapped[str] = mapped_column(String(32), default="")
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_full_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class ListenerLeaseRow(Base):
    """Who listens to one Asterisk (site): the holder, its fencing token, until when (database clock)."""

    __tablename__ = "listener_lease"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    token: Mapped[int] = mapped_column(BigInteger)  # +1 on every acquisition
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ImportRunRow(Base):
    """One `voicemail import` run: the messages older than ``cutoff`` (origtime) are its to take.

    state: running -> interrupted (Ctrl-C) | done; a killed run stays "running" and is resumed.
    ``updated_at`` is also the run's claim: each start or resumption sets it, and an invocation writes the
    run's end state only while the run still holds the value it set (voicemail.db.import_store)."""

    __tablename__ = "import_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site: Mapped[str] = mapped_column(String(64), server_default="default")  # whose spool (migration 0016)
    cutoff: Mapped[int] = mapped_column(BigInteger)
    notify: Mapped[bool] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), index=True)
    imported: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ForwardRow(Base):
    """A message one mailbox owner forwarded to another mailbox: the recipient's message (its own row, its
    own sealed copy under its own data key), where it came from, who sent it on and their comment.

    Removed with the recipient's message when that is destroyed (the comment is personal data)."""

    __tablename__ = "message_forwards"

    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    source_message_id: Mapped[str] = mapped_column(String(36), index=True)  # no key: the original may be shredded
    forwarded_by: Mapped[str] = mapped_column(String(200))  # the sender's account
    forwarder_label: Mapped[str] = mapped_column(String(200))  # "Alice Example (1001)": an internal person
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PendingMoveRow(Base):
    """A folder move its owner decided that Asterisk has not confirmed yet (the outbox of the telephone
    menu's save): ``messages.folder`` already names ``to_folder``; the move worker carries out the
    VoicemailMove, confirms it by re-reading the mailbox and removes the row. One row per message: a
    later decision replaces an earlier one. ``token`` tells the decision apart from a newer one."""

    __tablename__ = "pending_moves"

    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    from_folder: Mapped[str] = mapped_column(String(16))  # where our listing had it when decided
    to_folder: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    last_error: Mapped[str] = mapped_column(String(200), default="", server_default="")
