"""Migration 0017: phone PINs and hot-desk sign-ins belong to a site; rows recorded before get the default
site's name; the same mailbox on two sites has two PINs; a downgrade keeps the default site's PINs."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

import voicemail.audit.tables
import voicemail.lifecycle.tables
import voicemail.phone.tables
import voicemail.web.signin_identities
import voicemail.web.tables  # noqa: F401
from voicemail.db.migrate import alembic_config, upgrade
from voicemail.db.models import Base

PIN = text("INSERT INTO phone_pins ({site}context, mailbox, pin_hash, failed_count, updated_at, updated_by) "
           "VALUES ({value}'default', '1001', 'h', 0, 1.0, 'test')")
DESK = text("INSERT INTO hotdesk_sessions (device, context, mailbox, signed_in_at, ended_by, source) "
            "VALUES ('SEP01', 'default', '1001', 1.0, '', 'test')")


def _pin(conn: object, site: str | None = None) -> None:
    statement = PIN.text.format(site="site, " if site else "", value=f"'{site}', " if site else "")
    conn.execute(text(statement))  # type: ignore[attr-defined]


def test_existing_pins_and_sign_ins_get_the_default_site_and_two_sites_keep_their_own_pin(engine: Engine) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0016")
        _pin(conn)
        conn.execute(DESK)
    upgrade(engine, default_site="hq")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.execute(text("SELECT site FROM phone_pins")).scalar_one() == "hq"
        assert conn.execute(text("SELECT site FROM hotdesk_sessions")).scalar_one() == "hq"
    with engine.begin() as conn:  # the same mailbox on another Asterisk: its own PIN
        _pin(conn, "branch")
    with pytest.raises(IntegrityError), engine.begin() as conn:  # but one per mailbox of a site
        _pin(conn, "hq")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["default_site"] = "hq"
        command.downgrade(cfg, "0016")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM phone_pins")).scalar_one() == 1
    upgrade(engine, default_site="hq")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT site FROM phone_pins")).scalar_one() == "hq"
