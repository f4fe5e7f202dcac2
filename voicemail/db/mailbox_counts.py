"""Per-mailbox message counts for the inbox's totals, kept by triggers on ``messages``.

A COUNT over a 100,000-message mailbox costs tens of milliseconds even as an index-only scan, on every
page view. Instead, one row per (site, mailbox, new?, urgent?, caller kind) holds how many *listed* messages
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
    Column("site", String(64), primary_key=True),
    Column("context", String(80), primary_key=True),
    Column("mailbox", String(80), primary_key=True),
    Column("is_new", Boolean, primary_key=True),  # folder INBOX or Urgent
    Column("urgent", Boolean, primary_key=True),
    Column("kind", String(10), primary_key=True),  # internal | external | anonymous
    Column("n", BigInteger, nullable=False),
)



class NewMessageCounter:
    """How many new (unheard) messages a mailbox holds, from the trigger-kept counts (for the notification)."""

    def __init__(self, engine: Engine, default_site: str = "default") -> None:
        self._engine = engine
        self._default_site = default_site

    def __call__(self, mailbox: MailboxRef) -> int:
        c = mailbox_counts.c
        query = select(func.coalesce(func.sum(c.n), 0)).where(
            c.site == (mailbox.site or self._default_site), c.context == mailbox.context,
            c.mailbox == mailbox.mailbox, c.is_new.is_(True))
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one() or 0)


LISTED_SQL = "{r}.state IN ('discovered', 'sealed', 'stripped') AND {r}.hidden_at IS NULL"
IS_NEW_SQL = "{r}.folder IN ('INBOX', 'Urgent')"
KIND_SQL = ("CASE WHEN {r}.caller_kind = 'internal' THEN 'internal' WHEN {r}.caller_withheld THEN 'anonymous' "
            "ELSE 'external' END")
WATCHED = "state, hidden_at, folder, urgent, caller_kind, caller_withheld, context, mailbox"


def _f(template: str, row: str) -> str:
    return template.format(r=row)


# The columns that name a mailbox in the counter rows: (site, context, mailbox) since migration 0015;
# migration 0006 created them on (context, mailbox).
KEYS = ("site", "context", "mailbox")
KEYS_0006 = ("context", "mailbox")


def _match(keys: tuple[str, ...], row: str) -> str:
    return " AND ".join(f"{k} = {row}.{k}" for k in keys)


def _tuple(keys: tuple[str, ...], row: str, new: str, kind: str) -> str:
    return "(" + ", ".join(f"{row}.{k}" for k in keys) + f", {new}, {row}.urgent, {kind})"


def pg_function(keys: tuple[str, ...] = KEYS) -> str:
    """The counting trigger function of PostgreSQL. An update that moves a message between two counter rows
    locks them in one fixed order (key order), so two opposite moves at once (INBOX->Old and Old->INBOX in
    one mailbox) cannot deadlock."""
    minus = (f"UPDATE mailbox_counts SET n = n - 1 WHERE {_match(keys, 'OLD')} "  # noqa: S608
             "AND is_new = o_new AND urgent = OLD.urgent AND kind = o_kind;")
    columns = ", ".join(keys)
    plus = (f"INSERT INTO mailbox_counts ({columns}, is_new, urgent, kind, n) "  # noqa: S608
            f"VALUES ({', '.join('NEW.' + k for k in keys)}, n_new, NEW.urgent, n_kind, 1) "
            f"ON CONFLICT ({columns}, is_new, urgent, kind) DO UPDATE SET n = mailbox_counts.n + 1;")
    old, new = _tuple(keys, "OLD", "o_new", "o_kind"), _tuple(keys, "NEW", "n_new", "n_kind")
    return f"""
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
        IF {old} = {new} THEN
            RETURN NULL;  -- same counter row: nothing changes
        END IF;
        IF {old} > {new} THEN
            {plus}
            {minus}
            RETURN NULL;
        END IF;
    END IF;
    IF o THEN
        {minus}
    END IF;
    IF nw THEN
        {plus}
    END IF;
    RETURN NULL;
END
$$;
"""


def _watched(keys: tuple[str, ...]) -> str:
    return WATCHED + (", site" if "site" in keys else "")


def pg_triggers(keys: tuple[str, ...] = KEYS) -> list[str]:
    return [
        "CREATE TRIGGER messages_counts_insert_delete AFTER INSERT OR DELETE ON messages "
        "FOR EACH ROW EXECUTE FUNCTION voicemail_mailbox_counts()",
        f"CREATE TRIGGER messages_counts_update AFTER UPDATE OF {_watched(keys)} ON messages "
        "FOR EACH ROW EXECUTE FUNCTION voicemail_mailbox_counts()",
    ]


def _sqlite_plus(keys: tuple[str, ...], row: str) -> str:
    key = (f"{_match(keys, row)} AND is_new = ({_f(IS_NEW_SQL, row)}) "
           f"AND urgent = {row}.urgent AND kind = {_f(KIND_SQL, row)}")
    values = ", ".join(f"{row}.{k}" for k in keys)
    return (f"INSERT OR IGNORE INTO mailbox_counts ({', '.join(keys)}, is_new, urgent, kind, n) VALUES "  # noqa: S608
            f"({values}, ({_f(IS_NEW_SQL, row)}), {row}.urgent, {_f(KIND_SQL, row)}, 0); "
            f"UPDATE mailbox_counts SET n = n + 1 WHERE {key};")


def _sqlite_minus(keys: tuple[str, ...], row: str) -> str:
    return (f"UPDATE mailbox_counts SET n = n - 1 WHERE {_match(keys, row)} "  # noqa: S608
            f"AND is_new = ({_f(IS_NEW_SQL, row)}) AND urgent = {row}.urgent "
            f"AND kind = {_f(KIND_SQL, row)};")


def sqlite_triggers(keys: tuple[str, ...] = KEYS) -> list[str]:
    watched = _watched(keys)
    return [
        f"CREATE TRIGGER messages_counts_insert AFTER INSERT ON messages WHEN {_f(LISTED_SQL, 'NEW')} "
        f"BEGIN {_sqlite_plus(keys, 'NEW')} END",
        f"CREATE TRIGGER messages_counts_delete AFTER DELETE ON messages WHEN {_f(LISTED_SQL, 'OLD')} "
        f"BEGIN {_sqlite_minus(keys, 'OLD')} END",
        # the old key first (-1), then the new one (+1): an update within one key nets to zero
        f"CREATE TRIGGER messages_counts_update_old AFTER UPDATE OF {watched} ON messages "
        f"WHEN {_f(LISTED_SQL, 'OLD')} BEGIN {_sqlite_minus(keys, 'OLD')} END",
        f"CREATE TRIGGER messages_counts_update_new AFTER UPDATE OF {watched} ON messages "
        f"WHEN {_f(LISTED_SQL, 'NEW')} BEGIN {_sqlite_plus(keys, 'NEW')} END",
    ]


TRIGGER_NAMES = ("messages_counts_insert_delete", "messages_counts_update", "messages_counts_insert",
                 "messages_counts_delete", "messages_counts_update_old", "messages_counts_update_new")


def backfill(keys: tuple[str, ...] = KEYS) -> str:
    """Fill mailbox_counts from the messages (a new table)."""
    columns = ", ".join(keys)
    return (f"INSERT INTO mailbox_counts ({columns}, is_new, urgent, kind, n) "  # noqa: S608
            f"SELECT {columns}, ({_f(IS_NEW_SQL, 'm')}), urgent, {_f(KIND_SQL, 'm')}, count(*) "
            f"FROM messages m WHERE {_f(LISTED_SQL, 'm')} "
            f"GROUP BY {columns}, ({_f(IS_NEW_SQL, 'm')}), urgent, {_f(KIND_SQL, 'm')}")


BACKFILL = backfill()


def create_triggers(execute: object, dialect: str, keys: tuple[str, ...] = KEYS) -> None:
    """Create the counting triggers (``execute(sql)``: e.g. ``op.execute`` or a connection's exec)."""
    assert callable(execute)
    if dialect == "postgresql":
        execute(pg_function(keys))
        for statement in pg_triggers(keys):
            execute(statement)
    elif dialect == "sqlite":
        for statement in sqlite_triggers(keys):
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
