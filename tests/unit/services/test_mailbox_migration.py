"""Migration 0006: the columns and partial indexes of the models, a backfill of caller_withheld, and a
clean downgrade."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from voicemail.db.engine import make_engine
from voicemail.db.migrate import alembic_config, upgrade
from voicemail.db.models import INBOX_INDEXES, Base

MINE = ("hidden_at", "destroyed_at", "caller_withheld", *INBOX_INDEXES)


def test_0006_matches_the_models_backfills_and_downgrades(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
        for n, raw in enumerate(("Unknown", '"Alice" <1001>', "+12025550123", "")):
            conn.execute(text("INSERT INTO messages (id, context, mailbox, msg_id, state, folder, origtime, duration, "
                              "urgent, caller_context, callerid_raw, caller_kind, envelope, attempts, last_error, "
                              "discovered_at, updated_at) VALUES (:id, 'default', '1001', :m, 'stripped', 'INBOX', 1, "
                              "1, 0, '', :raw, 'external', x'', 0, '', '2026-01-01', '2026-01-01')"),
                         {"id": f"m{n}", "m": f"1-0000000{n}", "raw": raw})
    upgrade(engine)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        withheld: dict[str, int] = dict(conn.execute(text("SELECT id, caller_withheld FROM messages")).all())
        counted = conn.execute(text("SELECT kind, n FROM mailbox_counts ORDER BY kind")).all()
    mine = [d for d in diffs if _on_messages(d) and any(name in repr(d) for name in MINE)]
    assert mine == []
    assert withheld == {"m0": 1, "m1": 0, "m2": 0, "m3": 1}
    assert [tuple(r) for r in counted] == [("anonymous", 2), ("external", 2)]  # backfilled
    assert set(INBOX_INDEXES) <= {i["name"] for i in inspect(engine).get_indexes("messages")}
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    columns = {c["name"] for c in inspect(engine).get_columns("messages")}
    assert not {"hidden_at", "destroyed_at", "caller_withheld"} & columns
    assert "mailbox_counts" not in inspect(engine).get_table_names()
    upgrade(engine)
    engine.dispose()


def _on_messages(diff: object) -> bool:
    """A diff of the messages table (an index of it, or a column of it)."""
    items = diff if isinstance(diff, tuple) else (diff,)
    for item in items:
        table = getattr(item, "table", None)
        if getattr(table, "name", None) == "messages" or item == "messages":
            return True
        if isinstance(item, tuple) and _on_messages(item):
            return True
    return False
