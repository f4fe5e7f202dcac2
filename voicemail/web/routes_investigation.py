"""Cases (role investigator: the cases one is a member of, their holds and release requests, requesting an
evidence export) and approvals (role cleared_admin: pending evidence and CDR requests, the two-person rule).

Without the role every page answers 404 and the refusal is audited. Exports write files, so they stay on
the command line (`voicemail evidence export`, `voicemail cdr export`).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from voicemail.audit.access import Actor, Case
from voicemail.audit.chain import AuditEvent
from voicemail.audit.errors import AccessDenied
from voicemail.audit.queries import (
    cases_of_member,
    holds_of_case,
    pending_releases,
    release_summary,
    releases_of_case,
)
from voicemail.audit.service import Investigations
from voicemail.domain.errors import InvalidInput, NotFound
from voicemail.web.authz import message_id as valid_message_id
from voicemail.web.csrf import csrf_protect
from voicemail.web.inv_authz import require_role
from voicemail.web.render import render
from voicemail.web.sessions import web_deps

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
NOTICES = {"requested": "Export requested. A cleared administrator other than you must approve it.",
           "approved": "Request approved. The requester can now export it on the command line."}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def case_url(number: str) -> str:
    """A case number may hold '/' and '.': quoted whole, so that no browser normalises the path."""
    return "/cases/" + quote(number, safe="")


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _member_case(request: Request, number: str, action: str) -> tuple[Investigations, Actor, Case]:
    """An investigator who is a member of case ``number`` (open or not); else audited refusal -> 404."""
    if not 0 < len(number) <= 64:
        raise NotFound("not found")
    inv, actor = require_role(request, "investigator", action, case_id=number)
    case = inv.access.case(number)
    if actor.name not in case.members:
        raise inv.access.deny(actor, action, f"{actor.name} is not a member of case {number}", case_id=number)
    return inv, actor, case


# --- cases ---------------------------------------------------------------------------------------
@router.get("/cases")
def cases_page(request: Request) -> Response:
    inv, actor = require_role(request, "investigator", "case.list")
    return render(request, "cases.html", {"active": "cases", "cases": cases_of_member(inv.engine, actor.name),
                                          "case_url": case_url})


def _case_page(request: Request, inv: Investigations, case: Case, *, form: dict[str, str] | None = None,
               error: str = "", n: str | None = None, status: int = 200) -> Response:
    return render(request, "case.html", {
        "active": "cases", "case": case, "case_url": case_url, "holds": holds_of_case(inv.engine, case.id),
        "releases": releases_of_case(inv.engine, case.id), "summary": release_summary,
        "form": form or {"request_ref": "", "message_ids": "", "reason": ""}, "error": error,
        "notice": NOTICES.get(n or "", "")}, status=status)


@router.get("/cases/{number:path}")
def case_page(request: Request, number: str, n: str | None = Query(None, max_length=20)) -> Response:
    inv, actor, case = _member_case(request, number, "case.view")
    inv.audit.append(AuditEvent(actor=actor.name, action="case.view", source=actor.source, case_id=case.id))
    return _case_page(request, inv, case, n=n)


def _message_ids(text: str) -> list[str]:
    ids = [valid_message_id(part) for part in re.split(r"[\s,]+", text) if part]
    if not ids:
        raise InvalidInput("give at least one message id")
    return list(dict.fromkeys(ids))


@router.post("/cases/{number:path}/evidence")
def request_evidence(request: Request, number: str, request_ref: str = Form("", max_length=120),
                     message_ids: str = Form("", max_length=20_000),
                     reason: str = Form("", max_length=500)) -> Response:
    inv, actor, case = _member_case(request, number, "evidence.request")
    form = {"request_ref": request_ref, "message_ids": message_ids, "reason": reason}
    store = web_deps(request).messages
    if store is None:
        raise NotFound("not found")
    try:
        inv.request_evidence(actor, case.id, request_ref.strip(), _message_ids(message_ids), store, reason.strip())
    except (InvalidInput, NotFound) as exc:
        return _case_page(request, inv, case, form=form, error=str(exc)[:300], status=400)
    except AccessDenied as exc:  # e.g. the case is closed or expired (the refusal is audited)
        return _case_page(request, inv, case, form=form, error=str(exc)[:300], status=403)
    return _redirect(case_url(case.id) + "?n=requested")


# --- approvals -----------------------------------------------------------------------------------
def _approvals_page(request: Request, inv: Investigations, actor: Actor, *, error: str = "", n: str | None = None,
                    status: int = 200) -> Response:
    return render(request, "approvals.html", {
        "active": "approvals", "requests": pending_releases(inv.engine), "me": actor.name, "summary": release_summary,
        "case_url": case_url,
        "error": error, "notice": NOTICES.get(n or "", "")}, status=status)


@router.get("/approvals")
def approvals_page(request: Request, n: str | None = Query(None, max_length=20)) -> Response:
    inv, actor = require_role(request, "cleared_admin", "approvals.view")
    return _approvals_page(request, inv, actor, n=n)


@router.post("/approvals/{request_id}/approve")
def approve(request: Request, request_id: str, reason: str = Form("", max_length=500)) -> Response:
    inv, actor = require_role(request, "cleared_admin", "release.approve")
    if not _UUID.match(request_id):
        raise NotFound("not found")
    req = inv.releases.get(request_id)
    try:
        inv.releases.approve(actor, request_id, reason.strip())
    except AccessDenied as exc:  # the service refused and audited it
        why = ("You made this request yourself: a cleared administrator other than the requester must approve "
               "it (two-person rule). The refusal is recorded in the audit trail."
               if req.requester == actor.name else str(exc)[:300])
        return _approvals_page(request, inv, actor, error=why, status=403)
    except InvalidInput as exc:
        return _approvals_page(request, inv, actor, error=str(exc)[:300], status=409)
    return _redirect("/approvals?n=approved")
