"""Several messages at once from the inbox: the page's checkboxes (``POST /inbox/selected``, deleting asks
for a confirmation first) and ``POST /api/v1/messages/bulk``. Each message goes through the mailbox
service on its own, so each is checked against the viewer, changed and audited like a single one."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from voicemail.services.bulk import MAX_SELECTED, BulkResult, apply_to_selected, summary
from voicemail.web import authz
from voicemail.web.caller_display import caller_label
from voicemail.web.csrf import csrf_protect
from voicemail.web.next_url import MAX_LENGTH as MAX_NEXT
from voicemail.web.next_url import safe_next
from voicemail.web.render import render
from voicemail.web.sessions import web_deps

router = APIRouter(dependencies=[Depends(csrf_protect)])
ACTION_AUDIT = {"read": "message.mark", "unread": "message.mark", "delete": "message.delete",
                "delete-confirmed": "message.delete"}


def _back(raw: str) -> str:
    """The inbox page to return to (its filters kept); only a path of the inbox itself."""
    target = safe_next(raw) or "/"
    return target if urlsplit(target).path == "/" else "/"


def _with(url: str, **params: str) -> str:
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and p.split("=", 1)[0] not in ("n", "b", "page")]
    return "/?" + "&".join([*kept, urlencode(params)])


@router.post("/inbox/selected", include_in_schema=False)
def selected(request: Request, action: Literal["read", "unread", "delete", "delete-confirmed"] = Form(...),
             ids: Annotated[list[str] | None, Form(max_length=MAX_SELECTED)] = None,
             back: str = Form("/", max_length=MAX_NEXT)) -> Response:
    viewer = authz.owner_viewer(request, ACTION_AUDIT[action], None)
    target = _back(back)
    if not ids:  # nothing ticked
        return RedirectResponse(_with(target, b="none"), status_code=303, headers={"Cache-Control": "no-store"})
    checked = [authz.message_id(i) for i in ids]
    service = web_deps(request).mailbox
    if action == "delete":  # ask first, naming what will go
        items = [service.message(viewer, mid) for mid in checked]
        return render(request, "confirm_bulk_delete.html", {"items": items, "back": target,
                                                            "caller_label": caller_label})
    result = apply_to_selected(service, viewer, "delete" if action == "delete-confirmed" else action, checked)
    return RedirectResponse(_with(target, b=f"{result.action}.{len(result.done)}.{len(result.failed)}"),
                            status_code=303, headers={"Cache-Control": "no-store"})


def bulk_notice(code: str | None) -> str:
    """The inbox's sentence after a change to several messages (``b=read.3.1``: 3 done, 1 not)."""
    if code == "none":
        return "Select at least one message first."
    parts = (code or "").split(".")
    if len(parts) != 3 or parts[0] not in ("read", "unread", "delete") or not all(p.isdigit() for p in parts[1:]):
        return ""
    done, failed = int(parts[1][:4]), int(parts[2][:4])
    return summary(BulkResult(parts[0], ("",) * done, ("",) * failed))  # type: ignore[arg-type]


class BulkIn(BaseModel):
    action: Literal["read", "unread", "delete"]
    ids: list[str] = Field(min_length=1, max_length=MAX_SELECTED)


@router.post("/api/v1/messages/bulk", tags=["api"])
def bulk_api(request: Request, body: BulkIn) -> dict[str, Any]:
    """Mark read, mark unread or delete several of your own messages; ``done`` and ``failed`` ids."""
    viewer = authz.owner_viewer(request, ACTION_AUDIT[body.action], None)
    checked = [authz.message_id(i) for i in body.ids]
    result = apply_to_selected(web_deps(request).mailbox, viewer, body.action, checked)
    return {"action": result.action, "done": list(result.done), "failed": list(result.failed)}
