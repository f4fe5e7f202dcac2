"""The two-person rule for releases (evidence, CDRs): an investigator of the case requests, a cleared
administrator who is not the requester approves, then the requester exports once. All audited."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from voicemail.audit.access import Access, Actor
from voicemail.audit.chain import AuditEvent
from voicemail.audit.store import utc_now_iso
from voicemail.audit.tables import release_requests
from voicemail.domain.errors import InvalidInput, NotFound

KINDS = ("evidence", "cdr")


@dataclass(frozen=True)
class ReleaseRequest:
    id: str
    kind: str
    case_id: str
    request_ref: str
    requester: str
    requested_at: str
    status: str
    approver: str | None
    approved_at: str | None
    params: dict[str, Any]


class Releases:
    def __init__(self, access: Access) -> None:
        self._access = access
        self._engine = access.engine

    def get(self, request_id: str) -> ReleaseRequest:
        with self._engine.connect() as conn:
            r = conn.execute(select(release_requests).where(release_requests.c.id == request_id)).mappings().first()
        if r is None:
            raise NotFound(f"no release request {request_id}")
        return ReleaseRequest(r["id"], r["kind"], r["case_id"], r["request_ref"], r["requester"], r["requested_at"],
                              r["status"], r["approver"], r["approved_at"], json.loads(r["params"]))

    def request(self, actor: Actor, kind: str, case_id: str, request_ref: str, params: dict[str, Any],
                reason: str = "") -> ReleaseRequest:
        if kind not in KINDS:
            raise InvalidInput(f"unknown release kind {kind!r}")
        if not request_ref.strip():
            raise InvalidInput("a release request needs a request reference (the written request's number)")
        action = f"{kind}.request"
        self._access.require_member(actor, case_id, action, request_ref=request_ref)
        request_id = str(uuid.uuid4())
        with self._engine.begin() as conn:
            conn.execute(insert(release_requests).values(
                id=request_id, kind=kind, case_id=case_id, request_ref=request_ref, requester=actor.name,
                requested_at=utc_now_iso(), status="pending", params=json.dumps(params, sort_keys=True)))
            self._access.audit.append(AuditEvent(actor=actor.name, action=action, source=actor.source,
                                                 reason=reason, case_id=case_id, request_ref=request_ref,
                                                 details={"request": request_id, **params}), conn)
        return self.get(request_id)

    def approve(self, actor: Actor, request_id: str, reason: str = "") -> ReleaseRequest:
        req = self.get(request_id)
        action = f"{req.kind}.approve"
        fields = {"case_id": req.case_id, "request_ref": req.request_ref}
        self._access.require_role(actor, "cleared_admin", action, **fields)
        if actor.name == req.requester:
            raise self._access.deny(actor, action, "the requester may not approve their own request", **fields)
        if req.status != "pending":
            raise self._access.deny(actor, action, f"request is {req.status}, not pending", **fields)
        with self._engine.begin() as conn:
            done = conn.execute(update(release_requests).where(
                release_requests.c.id == request_id, release_requests.c.status == "pending").values(
                status="approved", approver=actor.name, approved_at=utc_now_iso()))
            if not done.rowcount:
                raise InvalidInput(f"request {request_id} was decided meanwhile")
            self._access.audit.append(AuditEvent(actor=actor.name, action=action, source=actor.source,
                                                 reason=reason, details={"request": request_id}, **fields), conn)
        return self.get(request_id)

    def claim_export(self, actor: Actor, request_id: str, kind: str) -> ReleaseRequest:
        """Check that ``actor`` may export this approved request now (the requester, still on the case)."""
        req = self.get(request_id)
        action = f"{kind}.export"
        fields = {"case_id": req.case_id, "request_ref": req.request_ref}
        if req.kind != kind:
            raise InvalidInput(f"request {request_id} is a {req.kind} request")
        if req.status != "approved":
            raise self._access.deny(actor, action, f"request is {req.status}, not approved", **fields)
        if actor.name != req.requester:
            raise self._access.deny(actor, action, "only the requester exports an approved request", **fields)
        self._access.require_member(actor, req.case_id, action, request_ref=req.request_ref)
        return req

    def mark_exported(self, request_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(release_requests).where(release_requests.c.id == request_id)
                         .values(status="exported"))
