"""Tables of the lifecycle, SQLAlchemy Core on the project's metadata; created by migration 0007.

* ``kek_usage``         — per KEK: wraps performed (reserved in blocks, an upper bound), created /
                          superseded / destroyed times
* ``key_rotations``     — one row per `voicemail keys rotate`; unfinished = to be resumed
* ``lifecycle_leases``  — named leases so a job runs once at a time (retention, rotation, quota)
* ``destruction_records`` — the signed record of each retention run
* ``quota_alerts``      — new messages kept over quota because only held messages remained
* ``expiry_warnings``   — messages whose owner was warned of their coming destruction (once)
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table, Text

from voicemail.db.models import Base

metadata = Base.metadata

kek_usage = Table(
    "kek_usage", metadata,
    Column("kek_id", String(64), primary_key=True),
    Column("backend", String(16), nullable=False),
    Column("wraps", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("superseded_at", Float, nullable=True),  # epoch seconds (grace before retiring)
    Column("destroyed_at", String(32), nullable=True),
)

key_rotations = Table(
    "key_rotations", metadata,
    Column("id", String(36), primary_key=True),
    Column("new_kek", String(64), nullable=False),
    Column("old_keks", Text, nullable=False),  # JSON list
    Column("actor", String(200), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32), nullable=True),
    Column("rewrapped", BigInteger, nullable=False),
)

lifecycle_leases = Table(
    "lifecycle_leases", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(120), nullable=False),
    Column("expires_at", Float, nullable=False),
)

destruction_records = Table(
    "destruction_records", metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", String(32), nullable=False),
    Column("destroyed", Integer, nullable=False),
    Column("held", Integer, nullable=False),
    Column("body", Text, nullable=False),  # canonical JSON that was signed
    Column("signature", String(200), nullable=False),  # base64 Ed25519
    Column("key_id", String(32), nullable=False),
)

quota_alerts = Table(
    "quota_alerts", metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", String(32), nullable=False),
    Column("scope", String(10), nullable=False),  # site | mailbox
    Column("context", String(80), nullable=True),
    Column("mailbox", String(80), nullable=True),
    Column("message_id", String(36), nullable=False),
    Column("used_bytes", BigInteger, nullable=False),
    Column("limit_bytes", BigInteger, nullable=False),
    Column("resolved_at", String(32), nullable=True),
)

expiry_warnings = Table(
    "expiry_warnings", metadata,
    Column("message_id", String(36), primary_key=True),
    Column("warned_at", String(32), nullable=False),
)
