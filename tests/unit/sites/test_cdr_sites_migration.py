"""Migration 0019: call detail records belong to a site; records stored before get the default site's name;
a downgrade keeps every record (without its site) and an upgrade again gives them the default site."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

import voicemail.audit.tables
import voicemail.lifecycle.tables
import voicemail.phone.tables
import voicemail.web.signin_identities
import voicemail.web.tables  # noqa: F401
from voicemail.db.migrate import alembic_config, upgrade
from voicemail.db.models import Base

CDR = ("INSERT INTO cdrs ({site}unique_id, system_name, account_code, source, destination, destination_context, "
       "caller_id, channel, destination_channel, last_application, last_data, start_time, answer_time, end_time, "
       "duration, billable_seconds, disposition, ama_flags, user_field, received_at) VALUES ({value}'{uid}', "
       "'pbx', '', '+12025550111', '1001', 'internal', '', 'PJSIP/trunk-00000001', '', 'Dial', '', "
       "'2026-11-29 09:00:00', '', '2026-11-29 09:00:10', 10, 0, 'NO ANSWER', 'DOCUMENTATION', '', '2026-11-29')")


def _cdr(conn: object, uid: str, site: str | None = None) -> None:
    statement = CDR.format(site="site, " if site else "", value=f"'{site}', " if site else "", uid=uid)
    conn.execute(text(statement))  # type: ignore[attr-defined]


def _sites(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(r.unique_id, r.site) for r in conn.execute(text("SELECT unique_id, site FROM cdrs ORDER BY id"))]


def test_existing_cdrs_get_the_default_site_and_a_downgrade_keeps_every_record(engine: Engine) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0018")
        _cdr(conn, "before")
    upgrade(engine, default_site="hq")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    assert _sites(engine) == [("before", "hq")]
    with engine.begin() as conn:  # the same extension's call on another Asterisk
        _cdr(conn, "branch-call", "branch")
        _cdr(conn, "unnamed")  # a writer that names no site: the server default
    assert _sites(engine) == [("before", "hq"), ("branch-call", "branch"), ("unnamed", "default")]
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["default_site"] = "hq"
        command.downgrade(cfg, "0018")
    assert "site" not in {c["name"] for c in inspect(engine).get_columns("cdrs")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cdrs")).scalar_one() == 3
    upgrade(engine, default_site="hq")
    assert {site for _uid, site in _sites(engine)} == {"hq"}
