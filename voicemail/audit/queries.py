"""Read-only queries for the investigation pages: a page of custody history (newest first), the cases
of a member, a case's holds and release requests, and the release requests awaiting approval.

They decide nothing about who may see what: the callers check roles and membership (voicemail.audit.access).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine, RowMapping

from voicemail.audit.chain import ChainedEvent
from voicemail.audit.release import ReleaseRequest
from voicemail.audit.tables import audit_events, case_members, cases, holds, release_requests


@dataclass(frozen=True)
class EventPage:
    items: list[ChainedEvent]
    total: int
    offset: int


@dataclass(frozen=True)
class HoldRow:
    id: str
    scope: str
    target: str  # what it covers, in words
    placed_by: str
    placed_at: str
    released_at: str | None

    @property
    def state(self) -> str:
        return "released" if self.released_at else "active"


def _event(r: RowMapping) -> ChainedEvent:
    return ChainedEvent(int(r["seq"]), r["at"], r["actor"], r["action"], r["outcome"], r["source"], r["reason"],
                        r["case_id"], r["request_ref"], r["message_id"], r["details"], r["prev_hash"], r["hash"])


def search_events(engine: Engine, *, message_id: str | None = None, case_id: str | None = None,
                  actor: str | None = None, offset: int = 0, limit: int = 50) -> EventPage:
    """Events matching every given filter (the query of `voicemail audit show`), newest first."""
    filters: list[Any] = []
    if message_id:
        filters.append(audit_events.c.message_id == message_id)
    if case_id:
        filters.append(audit_events.c.case_id == case_id)
    if actor:
        filters.append(audit_events.c.actor == actor)
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(audit_events).where(*filters)).scalar_one())
        rows = conn.execute(select(audit_events).where(*filters).order_by(audit_events.c.seq.desc())
                            .offset(offset).limit(limit)).mappings().all()
    return EventPage([_event(r) for r in rows], total, offset)


def cases_of_member(engine: Engine, principal: str) -> list[RowMapping]:
    """The cases ``principal`` is a member of (id, authority, status, opened_at, expires_at), newest first."""
    query = (select(cases.c.id, cases.c.authority, cases.c.status, cases.c.opened_at, cases.c.expires_at)
             .join(case_members, case_members.c.case_id == cases.c.id)
             .where(case_members.c.principal == principal).order_by(cases.c.opened_at.desc(), cases.c.id))
    with engine.connect() as conn:
        return list(conn.execute(query).mappings().all())


def _hold_target(r: RowMapping) -> str:
    if r["scope"] == "message":
        return f"message {r['message_id']}"
    where = f"mailbox {r['mailbox']}@{r['context']}" if r["mailbox"] else "every mailbox"
    where += f" on site {r['site']}" if r["site"] else ""
    if r["scope"] == "mailbox":
        return where
    return f"{where}, {_epoch(r['start_at'])} to {_epoch(r['end_at'])}"


def _epoch(value: int | None) -> str:
    if value is None:
        return "open end"
    return dt.datetime.fromtimestamp(int(value), dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def holds_of_case(engine: Engine, case_id: str) -> list[HoldRow]:
    with engine.connect() as conn:
        rows = conn.execute(select(holds).where(holds.c.case_id == case_id)
                            .order_by(holds.c.placed_at.desc(), holds.c.id)).mappings().all()
    return [HoldRow(r["id"], r["scope"], _hold_target(r), r["placed_by"], r["placed_at"], r["released_at"])
            for r in rows]


def _request(r: RowMapping) -> ReleaseRequest:
    return ReleaseRequest(r["id"], r["kind"], r["case_id"], r["request_ref"], r["requester"], r["requested_at"],
                          r["status"], r["approver"], r["approved_at"], json.loads(r["params"]))


def releases_of_case(engine: Engine, case_id: str) -> list[ReleaseRequest]:
    with engine.connect() as conn:
        rows = conn.execute(select(release_requests).where(release_requests.c.case_id == case_id)
                            .order_by(release_requests.c.requested_at.desc(), release_requests.c.id)).mappings()
        return [_request(r) for r in rows]


def pending_releases(engine: Engine) -> list[ReleaseRequest]:
    """Every release request (evidence and CDR) awaiting a cleared administrator's approval, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(release_requests).where(release_requests.c.status == "pending")
                            .order_by(release_requests.c.requested_at, release_requests.c.id)).mappings()
        return [_request(r) for r in rows]


def release_summary(req: ReleaseRequest) -> str:
    """What a request would release, in words."""
    if req.kind == "evidence":
        ids = list(req.params.get("message_ids", []))
        return f"{len(ids)} message(s): " + ", ".join(str(i) for i in ids)
    numbers = ", ".join(str(n) for n in req.params.get("numbers", []))
    site = f" on site {req.params['site']}" if req.params.get("site") else ""
    return (f"call records of {numbers or 'no numbers'}{site} from {req.params.get('from')} "
            f"to {req.params.get('to')}")
