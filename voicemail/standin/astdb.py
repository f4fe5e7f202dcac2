"""AstDB (``main/db.c``): the key/value store and its manager actions, replies as in capture q10.

Keys are paths ``/family/key``; ``DBGetTree`` matches a prefix on whole path components and lists in
key order. No event is sent for any change. The store lives as long as the stand-in (in memory).
"""

from __future__ import annotations

from voicemail.ami.parser import AmiMessage
from voicemail.standin import replies
from voicemail.standin.wire import encode

MAX_ENTRIES = 100_000


class AstDb:
    def __init__(self) -> None:
        self._rows: dict[str, str] = {}

    @staticmethod
    def path(family: str, key: str) -> str:
        return f"/{family}/{key}"

    def put(self, family: str, key: str, value: str) -> bool:
        path = self.path(family, key)
        if path not in self._rows and len(self._rows) >= MAX_ENTRIES:
            return False
        self._rows[path] = value
        return True

    def get(self, family: str, key: str) -> str | None:
        return self._rows.get(self.path(family, key))

    def delete(self, family: str, key: str) -> bool:
        return self._rows.pop(self.path(family, key), None) is not None

    def tree(self, family: str = "", key: str = "") -> list[tuple[str, str]]:
        """``create_prefix`` + ``key || '/' LIKE prefix || '/%'``, sorted by key."""
        prefix = ""
        if family:
            prefix = f"/{family}/{key}" if key else f"/{family}"
        return sorted((k, v) for k, v in self._rows.items() if not prefix or (k + "/").startswith(prefix + "/"))

    def deltree(self, family: str, key: str = "") -> int:
        doomed = [k for k, _ in self.tree(family, key)]
        for k in doomed:
            del self._rows[k]
        return len(doomed)


def _h(m: AmiMessage, name: str) -> str:
    """``astman_get_header``: leading blanks of the value are skipped, trailing ones kept."""
    return (m.get(name) or "").lstrip(" \t")


def _id_line(m: AmiMessage) -> list[tuple[str, str]]:
    aid = m.get("ActionID")
    return [("ActionID", aid)] if aid else []


def db_put(db: AstDb, m: AmiMessage) -> list[bytes]:
    family, key = _h(m, "Family"), _h(m, "Key")
    if not family:
        return [replies.error(m, "No family specified")]
    if not key:
        return [replies.error(m, "No key specified")]
    if not db.put(family, key, _h(m, "Val")):
        return [replies.error(m, "Failed to update entry")]
    return [replies.ack(m, "Updated database successfully")]


def db_get(db: AstDb, m: AmiMessage) -> list[bytes]:
    family, key = _h(m, "Family"), _h(m, "Key")
    if not family:
        return [replies.error(m, "No family specified.")]
    if not key:
        return [replies.error(m, "No key specified.")]
    value = db.get(family, key)
    if value is None:
        return [replies.error(m, "Database entry not found")]
    return [replies.listack(m, "Result will follow"),
                    encode([("Event", "DBGetResponse"), ("Family", family), ("Key", key), ("Val", value),
                            *_id_line(m)]),
                    replies.list_complete(m, "DBGetComplete", 1)]


def db_get_tree(db: AstDb, m: AmiMessage) -> list[bytes]:
    rows = db.tree(_h(m, "Family"), _h(m, "Key"))
    out = [replies.listack(m, "Result will follow")]
    out += [encode([("Event", "DBGetTreeResponse"), ("Key", k), ("Val", v), *_id_line(m)]) for k, v in rows]
    out.append(replies.list_complete(m, "DBGetTreeComplete", len(rows)))
    return out


def db_del(db: AstDb, m: AmiMessage) -> list[bytes]:
    family, key = _h(m, "Family"), _h(m, "Key")
    if not family:
        return [replies.error(m, "No family specified.")]
    if not key:
        return [replies.error(m, "No key specified.")]
    if not db.delete(family, key):
        return [replies.error(m, "Database entry could not be deleted")]
    return [replies.ack(m, "Key deleted successfully")]


def db_del_tree(db: AstDb, m: AmiMessage) -> list[bytes]:
    family = _h(m, "Family")
    if not family:
        return [replies.error(m, "No family specified.")]
    if db.deltree(family, _h(m, "Key")) == 0:
        return [replies.error(m, "Database entry not found")]
    return [replies.ack(m, "Key tree deleted successfully")]
