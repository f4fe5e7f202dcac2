"""Forwarding a message to another mailbox from the web inbox: ``GET /messages/{id}/forward`` the form (mailbox
and an optional comment), ``POST`` does it through the mailbox services and returns to the message page, or
shows the form again with the reason it cannot be done."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from voicemail.domain.errors import Conflict, InvalidInput
from voicemail.services.forward import COMMENT_LIMIT
from voicemail.web import authz
from voicemail.web.caller_display import caller_label
from voicemail.web.csrf import csrf_protect
from voicemail.web.render import render
from voicemail.web.routes_pages import redirect
from voicemail.web.sessions import web_deps

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _forward_page(request: Request, mid: str, form: dict[str, str], error: str = "", status: int = 200) -> Response:
    v = authz.owner_viewer(request, "message.forward", mid)
    item = web_deps(request).mailbox.message(v, mid)
    if not v.owns(item.mailbox):
        raise authz.refuse(request, v, "message.forward", "not the mailbox owner", message_id=mid)
    return render(request, "forward.html", {"m": item, "caller_label": caller_label, "form": form, "error": error,
                                            "comment_limit": COMMENT_LIMIT}, status=status)


@router.get("/messages/{message_id}/forward")
def forward_form(request: Request, message_id: str) -> Response:
    return _forward_page(request, authz.message_id(message_id), {"to": "", "comment": ""})


@router.post("/messages/{message_id}/forward")
def forward_submit(request: Request, message_id: str, to: str = Form("", max_length=170),
                   comment: str = Form("", max_length=4 * COMMENT_LIMIT)) -> Response:
    mid = authz.message_id(message_id)
    v = authz.owner_viewer(request, "message.forward", mid)
    try:
        done = web_deps(request).mailbox.forward(v, mid, to, comment)
    except InvalidInput as exc:
        return _forward_page(request, mid, {"to": to, "comment": comment}, error=str(exc), status=400)
    except Conflict as exc:
        return _forward_page(request, mid, {"to": to, "comment": comment}, error=str(exc), status=409)
    return redirect(f"/messages/{mid}?" + urlencode({"n": "forwarded", "to": str(done.to)}))
