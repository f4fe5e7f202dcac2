"""A small site for lifecycle tests: settings in a temp dir, a real keyring, vault, signing key and
database (SQLite or PostgreSQL), and sealed messages seeded at chosen ages (real blobs, real keys)."""

from __future__ import annotations

import datetime as dt
import gc
import io
import os
import random
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Engine

from voicemail.app import Container, build_container
from voicemail.audit.access import Actor
from voicemail.audit.service import Investigations
from voicemail.audit.signing import SigningKey
from voicemail.config import Settings, load_settings
from voicemail.db.models import MessageRow, RecordingRow
from voicemail.domain.models import WrappedKey
from voicemail.vault import FileKeyring, new_data_key

messages = cast(Table, MessageRow.__table__)
recordings = cast(Table, RecordingRow.__table__)
DAY = 86400
NOW = 1_900_000_000.0  # 2030-03-17: the tests' "now" (a controllable clock)
T = TypeVar("T")
ADMIN, IVY = Actor("root-admin", "cli@test"), Actor("ivy", "cli@test")  # an administrator, an investigator


def wav(n: int, seed: int) -> bytes:
    return b"RIFF" + random.Random(seed).randbytes(n)


class Site:
    def __init__(self, root: Path, database_url: str, **overrides: Any) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.values: dict[str, Any] = {
            "database_url": database_url, "vault_dir": str(root / "vault"), "keyring": str(root / "keyring.json"),
            "spool_dir": str(root / "spool"), "outbox_dir": str(root / "outbox"),
            "audit_signing_key": str(root / "signing.pem"), "retention_records_dir": str(root / "records"),
            "kek_retire_grace": 0, "log_level": "WARNING", **overrides}
        if not (root / "keyring.json").exists():
            FileKeyring.create(root / "keyring.json")
            SigningKey.create(root / "signing.pem")
        self.settings: Settings = load_settings(environ={}, overrides=self.values)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEMAIL_")}
        env.update({f"VOICEMAIL_{k.upper()}": str(v) for k, v in self.values.items()})
        env.update(extra)
        return env

    def container(self, on_new: Callable[[str], None] = lambda _id: None) -> Container:
        return build_container(self.settings, on_new=on_new)


def seed(c: Container, *, age_days: float, now: float = NOW, mailbox: str = "1001", folder: str = "INBOX",
         size: int = 2000, hidden_days: float | None = None, state: str = "stripped",
         site: str = "default") -> tuple[str, bytes]:
    """One sealed message left ``age_days`` before ``now``: a real blob in the vault, a real wrapped key."""
    message_id = str(uuid.uuid4())
    audio = wav(size, hash(message_id) & 0xFFFF)
    dek = new_data_key()
    blob = f"{message_id}.wav.seed"
    rec = c.vault.seal(io.BytesIO(audio), blob, dek, message_id.encode())
    wrapped = c.keyring.wrap(dek, message_id.encode())
    hidden = None if hidden_days is None else dt.datetime.fromtimestamp(now - hidden_days * DAY, dt.UTC)
    with c.engine.begin() as conn:
        conn.execute(insert(messages).values(
            id=message_id, site=site, context="default", mailbox=mailbox, msg_id=f"{int(now)}-{message_id[:8]}",
            state=state,
            folder=folder, origtime=int(now - age_days * DAY), duration=3, callerid_raw='"Ext" <5550100>',
            caller_kind="external", envelope=b"[message]\n", kek_id=wrapped.kek_id, wrapped_dek=wrapped.blob,
            hidden_at=hidden))
        conn.execute(insert(recordings).values(message_id=message_id, fmt="wav", blob_name=blob, sha256=rec.sha256,
                                               size=rec.size))
    return message_id, audio


def open_audio(c: Container, message_id: str, *, kek_id: str | None = None, wrapped: bytes | None = None) -> bytes:
    """Decrypt a message from the vault with its key from the database (or a given backup copy of it)."""
    with c.engine.connect() as conn:
        row = conn.execute(select(messages.c.kek_id, messages.c.wrapped_dek).where(messages.c.id == message_id)).one()
        blob = conn.execute(select(recordings.c.blob_name).where(recordings.c.message_id == message_id)).scalar()
    kek_id = kek_id or row.kek_id
    wrapped = wrapped or row.wrapped_dek
    if kek_id is None or wrapped is None:
        raise LookupError(f"message {message_id} has no data key any more")
    dek = c.keyring.unwrap(WrappedKey(kek_id, wrapped), message_id.encode())
    with c.vault.open(str(blob or f"{message_id}.wav.seed"), dek, message_id.encode()) as reader:
        return b"".join(reader)


def keys_of(c: Container) -> dict[str, tuple[str, bytes]]:
    """A "database backup" of every message's wrapped data key."""
    with c.engine.connect() as conn:
        return {r.id: (r.kek_id, bytes(r.wrapped_dek)) for r in conn.execute(
            select(messages.c.id, messages.c.kek_id, messages.c.wrapped_dek)
            .where(messages.c.wrapped_dek.is_not(None)))}

def fill_stripped(engine: Engine, start: int, count: int, *, age_days: int = 800, spread: int = 300) -> list[str]:
    """``count`` stripped messages (ids from ``start`` + 1), ``age_days`` to ``age_days + spread - 1`` days old
    (by default 800 to 1,099), in mailboxes of 100, written in one statement: rows only, no blobs (for plans
    and runs over many messages). Returns their ids."""
    rows: list[dict[str, Any]] = [{
        "id": str(uuid.UUID(int=start + i + 1)), "context": "default", "mailbox": str(1000 + (start + i) // 100),
        "msg_id": f"{int(NOW)}-{start + i:08x}", "state": "stripped", "folder": "Old" if i % 5 else "INBOX",
        "origtime": int(NOW - (age_days + (start + i) % spread) * DAY), "kek_id": "kek-1", "wrapped_dek": b"k" * 56,
    } for i in range(count)]
    with engine.begin() as conn:
        conn.execute(insert(messages), rows)
    return [str(r["id"]) for r in rows]


def traced_peak(run: Callable[[], T]) -> tuple[int, T]:
    """Peak traced memory while ``run`` runs, and what it returned. The cyclic collector runs often
    meanwhile, so the database layer's short-lived cycles are not counted as growth."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(100, 1, 1)
    tracemalloc.start()
    try:
        result = run()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()
        gc.set_threshold(*thresholds)


def open_case(c: Container, case: str) -> Investigations:
    """The site's investigations after ADMIN made IVY an investigator and IVY opened ``case`` (for holds)."""
    inv = Investigations(c.engine, default_site=c.settings.site_name)
    inv.access.grant(ADMIN, ADMIN.name, "administrator", "bootstrap")
    inv.access.grant(ADMIN, IVY.name, "investigator", "setup")
    inv.access.open_case(IVY, case, "OIG", "fraud")
    return inv


def states(c: Container) -> dict[str, str]:
    """Every message's state, by id."""
    with c.engine.connect() as conn:
        return {r.id: r.state for r in conn.execute(select(messages.c.id, messages.c.state))}
