"""Migration 0008 (signin_identities, oidc_pending) goes up and down on SQLite and PostgreSQL, and the
schema it makes enforces what the code relies on: one account per (kind, key), rows go with their account."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from voicemail.db.engine import make_engine
from voicemail.db.migrate import alembic_config, upgrade


def _round_trip(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        names = set(sa.inspect(engine).get_table_names())
        assert {"signin_identities", "oidc_pending"} <= names
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO web_accounts (username, roles, mailboxes, numbers, notify_address, "
                                 "timezone, language, failed_count, disabled, created_at, updated_at) VALUES "
                                 "('a', 'owner', '', '', '', '', '', 0, false, 0, 0)"))
            account = conn.execute(sa.text("SELECT id FROM web_accounts")).scalar_one()
            conn.execute(sa.text("INSERT INTO signin_identities (kind, key, account_id, label, created_by, created_at)"
                                 " VALUES ('piv', 'sha256:00', :a, '', '', 0)"), {"a": account})
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO signin_identities (kind, key, account_id, label, created_by, "
                                 "created_at) VALUES ('piv', 'sha256:00', :a, '', '', 0)"), {"a": account})
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0007")
        names = set(sa.inspect(engine).get_table_names())
        assert "signin_identities" not in names and "oidc_pending" not in names and "web_accounts" in names
        upgrade(engine)
        assert "signin_identities" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_migration_0008_round_trip_sqlite(tmp_path: Path) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'db.sqlite'}")


@pytest.mark.postgres
def test_migration_0008_round_trip_postgresql(pg_url: str) -> None:
    _round_trip(pg_url)
