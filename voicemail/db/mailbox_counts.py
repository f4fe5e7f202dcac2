"""Per-mailbox message counts for the inbox's totals, kept by triggers on ``messages``.

A COUNT over a 100,000-message mailbox costs tens of milliseconds even as an index-only scan, on every
page view. Instead, one row per (mailbox, new?, urgent?, caller kind) holds how many *listed* messages
(state discovered / sealed / stripped, not hidden) it has; the database keeps it exact in the same
transaction as every insert, update and delete of ``messages`` (triggers of migration 0006, PostgreSQL
and SQLite), whoever writes. The inbox total of any filter is then the sum of at most 12 rows.

Note for later migrations: SQLite's ``batch_alter_table`` on ``messages`` re-creates the table and
drops its triggers; such a migration must call ``create_triggers`` again afterwards.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Engine, String, Table, func, select

from voicemail.db.models import Base
from voicemail.domain.models import MailboxRef

mailbox_counts = Table(
    "mailbox_counts", Base.metadata,
    Column("context", String(80), primary_key=True),
    Column("mailbox", String(80), primary_key=True),
    Column("is_new", Boolean, primary_key=True),  # folder INBOX or Urgent
    Column("urgent", Boolean, primary_key=True),
    Column("kind", String(10), primary_key=True),  # internal | external | anonymous
    Column("n", BigInteger, nullable=False),
)



class NewMessageCounter:
    """How many new (unheard) messages a mailbox holds, from the trigger-kept counts (for the notification)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __call__(self, mailbox: MailboxRef) -> int:
        c = mailbox_counts.c
        query = select(func.coalesce(func.sum(c.n), 0)).where(
            c.context == mailbox.context, c.mailbox == mailbox.mailbox, c.is_new.is_(True))
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one() or 0)


LISTED_SQL = "{r}.state IN ('discovered', 'sealed', 'stripped') AND {r}.hidden_at IS NULL"
IS_NEW_SQL = "{r}.folder IN ('INBOX', 'Urgent')"
KIND_SQL = ("CASE WHEN {r}.caller_kind = 'internal' THEN 'internal' WHEN {r}.caller_withheld THEN 'anonymous' "
            "ELSE 'external' END")
WATCHED = "state, hidden_at, folder, urgent, caller_kind, caller_withheld, context, mailbox"


def _f(template: str, row: str) -> str:
    return template.format(r=row)


_PG_MINUS = ("UPDATE mailbox_counts SET n = n - 1 WHERE context = OLD.context AND mailbox = OLD.mailbox "
             "AND is_new = o_new AND urgent = OLD.urgent AND kind = o_kind;")
_PG_PLUS = ("INSERT INTO mailbox_counts (context, mailbox, is_new, urgent, kind, n) "
            "VALUES (NEW.context, NEW.mailbox, n_new, NEW.urgent, n_kind, 1) "
            "ON CONFLICT (context, mailbox, is_new, urgent, kind) DO UPDATE SET n = mailbox_counts.n + 1;")

# An update that moves a message between two counter rows locks them in one fixed order (key order),
# so two opposite moves at once (INBOX->Old and Old->INBOX in one mailbox) cannot deadlock.
PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION voicemail_mailbox_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o boolean := false;
    nw boolean := false;
    o_new boolean;
    n_new boolean;
    o_kind text;
    n_kind text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        o := {_f(LISTED_SQL, "OLD")};
        o_new := {_f(IS_NEW_SQL, "OLD")};
        o_kind := {_f(KIND_SQL, "OLD")};
    END IF;
    IF TG_OP <> 'DELETE' THEN
        nw := {_f(LISTED_SQL, "NEW")};
        n_new := {_f(IS_NEW_SQL, "NEW")};
        n_kind := {_f(KIND_SQL, "NEW")};
    END IF;
    IF o AND nw THEN
        IF (OLD.context, OLD.mailbox, o_new, OLD.urgent, o_kind)
           = (NEW.context, NEW.mailbox, n_new, NEW.urgent, n_kind) THEN
            RETURN NULL;  -- same counter row: nothing changes
        END IF;
        IF (OLD.context, OLD.mailbox, o_new, OLD.urgent, o_kind)
           > (NEW.context, NEW.mailbox, n_new, NEW.urgent, n_kind) THEN
            {_PG_PLUS}
            {_PG_MINUS}
            RETURN NULL;
        END IF;
    END IF;
    IF o THEN
        {_PG_MINUS}
    END IF;
    IF nw THEN
        {_PG_PLUS}
    END IF;
    RETURN NULL;
END
$$;
"""

PG_TRIGGERS = [
    "CREATE TRIGGER messages_counts_insert_delete AFTER INSERT OR DELETE ON messages "
    "FOR EACH ROW EXECUTE FUNCTION voicemail_mailbox_counts()",
    f"CREATE TRIGGER messages_counts_update AFTER UPDATE OF {WATCHED} ON messages "
    "FOR EACH ROW EXECUTE FUNCTION voicemail_mailbox_counts()",
]


def _sqlite_plus(row: str) -> str:
    key = (f"context = {row}.context AND mailbox = {row}.mailbox AND is_new = ({_f(IS_NEW_SQL, row)}) "
           f"AND urgent = {row}.urgent AND kind = {_f(KIND_SQL, row)}")
    return (f"INSERT OR IGNORE INTO mailbox_counts (context, mailbox, is_new, urgent, kind, n) VALUES "  # noqa: S608
            f"({row}.context, {row}.mailbox, ({_f(IS_NEW_SQL, row)}), {row}.urgent, {_f(KIND_SQL, row)}, 0); "
            f"UPDATE mailbox_counts SET n = n + 1 WHERE {key};")


def _sqlite_minus(row: str) -> str:
    return (f"UPDATE mailbox_counts SET n = n - 1 WHERE context = {row}.context "  # noqa: S608
            f"AND mailbox = {row}.mailbox "
            f"AND is_new = ({_f(IS_NEW_SQL, row)}) AND urgent = {row}.urgent "
            f"AND kind = {_f(KIND_SQL, row)};")


SQLITE_TRIGGERS = [
    f"CREATE TRIGGER messages_counts_insert AFTER INSERT ON messages WHEN {_f(LISTED_SQL, 'NEW')} "
    f"BEGIN {_sqlite_plus('NEW')} END",
    f"CREATE TRIGGER messages_counts_delete AFTER DELETE ON messages WHEN {_f(LISTED_SQL, 'OLD')} "
    f"BEGIN {_sqlite_minus('OLD')} END",
    # the old key first (-1), then the new one (+1): an update within one key nets to zero
    f"CREATE TRIGGER messages_counts_update_old AFTER UPDATE OF {WATCHED} ON messages WHEN {_f(LISTED_SQL, 'OLD')} "
    f"BEGIN {_sqlite_minus('OLD')} END",
    f"CREATE TRIGGER messages_counts_update_new AFTER UPDATE OF {WATCHED} ON messages WHEN {_f(LISTED_SQL, 'NEW')} "
    f"BEGIN {_sqlite_plus('NEW')} END",
]
TRIGGER_NAMES = ("messages_counts_insert_delete", "messages_counts_update", "messages_counts_insert",
                 "messages_counts_delete", "messages_counts_update_old", "messages_counts_update_new")

BACKFILL = (f"INSERT INTO mailbox_counts (context, mailbox, is_new, urgent, kind, n) "  # noqa: S608
            f"SELECT context, mailbox, ({_f(IS_NEW_SQL, 'm')}), urgent, {_f(KIND_SQL, 'm')}, count(*) "
            f"FROM messages m WHERE {_f(LISTED_SQL, 'm')} "
            f"GROUP BY context, mailbox, ({_f(IS_NEW_SQL, 'm')}), urgent, {_f(KIND_SQL, 'm')}")


def create_triggers(execute: object, dialect: str) -> None:
    """Create the counting triggers (``execute(sql)``: e.g. ``op.execute`` or a connection's exec)."""
    assert callable(execute)
    if dialect == "postgresql":
        execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            execute(statement)
    elif dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            execute(statement)


def drop_triggers(execute: object, dialect: str) -> None:
    assert callable(execute)
    if dialect == "postgresql":
        for name in TRIGGER_NAMES[:2]:
            execute(f"DROP TRIGGER IF EXISTS {name} ON messages")
        execute("DROP FUNCTION IF EXISTS voicemail_mailbox_counts()")
    elif dialect == "sqlite":
        for name in TRIGGER_NAMES[2:]:
            execute(f"DROP TRIGGER IF EXISTS {name}")
