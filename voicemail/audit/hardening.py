"""PostgreSQL privileges for the application role: it may only INSERT (and read) audit rows.

Run once by the schema owner (``voicemail audit harden --app-role NAME``) after the migration. The
triggers of migration 0004 refuse UPDATE / DELETE / TRUNCATE for everyone, the owner included; the
REVOKE makes the refusal a permission error for the application role too, so that even a role that
could disable triggers (only the table owner or a superuser can) is not the one the service runs as.
"""

from __future__ import annotations

import re

from voicemail.domain.errors import InvalidInput

APPEND_ONLY = ("audit_events", "audit_checkpoints")
# tables the application changes normally (the chain head row is updated on every append)
READ_WRITE = ("audit_head", "role_grants", "cases", "case_members", "holds", "release_requests", "cdrs")


def app_role_sql(role: str) -> list[str]:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise InvalidInput("app role must be a plain lower-case PostgreSQL identifier")
    out: list[str] = []
    for table in APPEND_ONLY:
        out.append(f"REVOKE ALL ON {table} FROM {role}")
        out.append(f"GRANT SELECT, INSERT ON {table} TO {role}")
    out.append(f"GRANT USAGE ON SEQUENCE audit_checkpoints_id_seq TO {role}")
    for table in READ_WRITE:
        out.append(f"GRANT SELECT, INSERT, UPDATE ON {table} TO {role}")
    out.append(f"REVOKE DELETE, TRUNCATE ON {', '.join(READ_WRITE)} FROM {role}")
    return out
