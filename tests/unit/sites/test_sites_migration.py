"""Migration 0015: mailboxes and messages belong to a site; rows recorded before get the default site's name;
the same mailbox and msg_id on two sites are two rows, counted apart in the inbox totals."""

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

INSERT = text(
    "INSERT INTO messages (id, {site}context, mailbox, msg_id, state, folder, origtime, duration, urgent, "
    "caller_context, callerid_raw, caller_kind, envelope, attempts, last_error, discovered_at, updated_at, "
    "deliveries, seal_attempt, caller_withheld) VALUES (:id, {site_value}'default', '1001', '1-0001', 'stripped', "
    "'INBOX', 1, 1, false, '', '', 'external', :envelope, 0, '', '2026-01-01', '2026-01-01', 0, '', false)")


def _insert(conn: object, message_id: str, site: str | None = None) -> None:
    statement = INSERT.text.format(site="site, " if site else "", site_value=":site, " if site else "")
    params = {"id": message_id, "envelope": b""} | ({"site": site} if site else {})
    conn.execute(text(statement), params)  # type: ignore[attr-defined]


def _counts(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [(r.site, int(r.n)) for r in conn.execute(text(
            "SELECT site, sum(n) AS n FROM mailbox_counts GROUP BY site ORDER BY site"))]


def test_existing_rows_get_the_default_site_and_two_sites_keep_the_same_mailbox_apart(engine: Engine) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0014")
        _insert(conn, "before")
        conn.execute(text("INSERT INTO mailboxes (context, mailbox, fullname, email, timezone, updated_at) "
                          "VALUES ('default', '1001', 'A', 'a@example.org', '', '2026-01-01')"))
    upgrade(engine, default_site="hq")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.execute(text("SELECT site FROM messages")).scalar_one() == "hq"
        assert conn.execute(text("SELECT site FROM mailboxes")).scalar_one() == "hq"
    assert _counts(engine) == [("hq", 1)]
    with engine.begin() as conn:  # the same mailbox and Asterisk msg_id on another Asterisk: another message
        _insert(conn, "branch-copy", site="branch")
        conn.execute(text("INSERT INTO mailboxes (site, context, mailbox, fullname, email, timezone, updated_at) "
                          "VALUES ('branch', 'default', '1001', 'B', 'b@example.org', '', '2026-01-01')"))
    assert _counts(engine) == [("branch", 1), ("hq", 1)]
    with pytest.raises(IntegrityError), engine.begin() as conn:  # but not twice on one site
        _insert(conn, "hq-twice", site="hq")
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET site = 'hq2' WHERE id = 'branch-copy'"))
    assert _counts(engine) == [("branch", 0), ("hq", 1), ("hq2", 1)]  # the triggers follow a change of site
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM messages WHERE id = 'branch-copy'"))
        conn.execute(text("DELETE FROM mailboxes WHERE site = 'branch'"))
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0014")
    with engine.connect() as conn:
        counted = conn.execute(text("SELECT context, mailbox, sum(n) FROM mailbox_counts GROUP BY context, mailbox"))
        assert [tuple(r) for r in counted] == [("default", "1001", 1)]
    upgrade(engine)
    assert _counts(engine) == [("default", 1)]
