"""The REST API under /api/v1 (JSON). Every route needs a session except signing in."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from voicemail.domain.errors import Conflict, FeatureUnavailable, InvalidInput
from voicemail.domain.mailbox import InboxItem, InboxPage, InboxQuery
from voicemail.domain.phone_call import CallStatus
from voicemail.web import authz
from voicemail.web.api_models import (
    AccountOut,
    CallPage,
    CallRef,
    MessageOut,
    MessagePage,
    SessionOut,
    SettingsOut,
)
from voicemail.web.audio import audio_response, download_name, parse_range
from voicemail.web.csrf import csrf_protect
from voicemail.web.deps import WebSettings
from voicemail.web.inbox_search import parse_search
from voicemail.web.render import account_zone
from voicemail.web.sessions import Authed, audit, current, end_session, presignin, require, web_deps
from voicemail.web.signin import password_signin
from voicemail.web.unread import new_messages

router = APIRouter(prefix="/api/v1", dependencies=[Depends(csrf_protect)], tags=["api"])


class SigninBody(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1024)
    totp: str = Field(default="", max_length=16)


class ForwardBody(BaseModel):
    to: str = Field(max_length=170, description="the mailbox to forward to: 2001 or 2001@context")
    comment: str = Field(default="", max_length=2000, description="optional text for the recipient (500 characters)")


class ForwardOut(BaseModel):
    to: str  # the mailbox it went to, mailbox@context
    forwarded: bool
    site: str | None = Field(default=None, description="With several sites: the site of the mailbox it went to "
                             "(a forward stays on the message's site); with one there is no such key")


class SettingsBody(BaseModel):
    notify_address: str = Field(default="", max_length=254)
    timezone: str = Field(default="", max_length=64)
    language: str = Field(default="", max_length=16)


def item_json(item: InboxItem, settings: WebSettings) -> dict[str, Any]:
    """A message as the API answers it; its mailbox names its site (the default site's name with one)."""
    out = asdict(item)
    box = item.mailbox
    out["mailbox"] = {"context": box.context, "mailbox": box.mailbox, "site": settings.site_name(box),
                      "qualified": box.qualified}
    out["formats"] = list(item.formats)
    return out


def page_json(page: InboxPage, settings: WebSettings) -> dict[str, Any]:
    return {"items": [item_json(i, settings) for i in page.items], "total": page.total, "offset": page.offset,
            "limit": page.limit}


def message_json(request: Request, item: InboxItem) -> dict[str, Any]:
    return item_json(item, web_deps(request).settings)


# --- session -------------------------------------------------------------------------------------
@router.get("/session", response_model=SessionOut)
def session_info(request: Request, response: Response) -> dict[str, Any]:
    """Whether this browser is signed in, and the CSRF token to send in X-CSRF-Token."""
    authed = current(request)
    if authed is not None:
        deps = web_deps(request)
        return {"signed_in": True, "username": authed.account.username, "csrf_token": authed.session.csrf_token,
                "plays_on_phones": deps.mailbox.plays_on_phones, "sites": list(deps.settings.site_names)}
    return {"signed_in": False, "csrf_token": presignin(request, response).csrf_token}


@router.post("/session", response_model=SessionOut, responses={401: {"model": SessionOut}, 429: {"model": SessionOut}})
def sign_in(body: SigninBody, request: Request, response: Response) -> dict[str, Any]:
    """Sign in with a password (and the one-time code when TOTP is on). Every failure gets one answer."""
    result = password_signin(request, response, body.username, body.password, body.totp)
    response.headers["Cache-Control"] = "no-store"
    if not result.ok:
        response.status_code = result.status
        response.headers.update(result.headers(request))
        return {"signed_in": False, "detail": result.message}
    authed = require(request)
    return {"signed_in": True, "username": authed.account.username, "csrf_token": authed.session.csrf_token}


@router.delete("/session", status_code=204)
def sign_out(request: Request) -> Response:
    require(request)
    response = Response(status_code=204)
    end_session(request, response)
    return response


# --- mailboxes and messages ----------------------------------------------------------------------
@router.get("/mailboxes/{context}/{mailbox}/messages", response_model=MessagePage)
def list_messages(request: Request, context: str, mailbox: str,
                  folder: Literal["INBOX", "Old"] | None = None, urgent: bool = False,
                  caller: Literal["internal", "external", "anonymous"] | None = None,
                  sort: Literal["newest", "oldest", "longest", "shortest"] = "newest",
                  offset: int = Query(0, ge=0, le=10_000_000), limit: int = Query(50, ge=1, le=200),
                  search: str = Query("", max_length=64), date_from: str = Query("", alias="from", max_length=10),
                  date_to: str = Query("", alias="to", max_length=10),
                  site: str = Query("", max_length=64, description="The mailbox's site when several are "
                                    "configured (GET /api/v1/session lists them); empty = the default site. "
                                    "400 for a site that is not configured.")) -> dict[str, Any]:
    """The messages of one mailbox, newest first unless ``sort`` says otherwise."""
    viewer = authz.viewer(request)
    settings = web_deps(request).settings
    ref = authz.mailbox_ref(context, mailbox, settings.site_of_request(site))
    authz.require_listing(request, viewer, ref)
    found = parse_search(search, date_from, date_to, account_zone(request))
    query = InboxQuery(folder=folder, urgent_only=urgent, caller_kind=caller, sort=sort, offset=offset, limit=limit,
                       caller_text=found.caller, received_from=found.received_from,
                       received_before=found.received_before)
    return page_json(web_deps(request).mailbox.inbox(viewer, ref, query), settings)


@router.get("/messages/{message_id}", response_model=MessageOut)
def get_message(request: Request, message_id: str) -> dict[str, Any]:
    viewer = authz.viewer(request)
    return message_json(request, web_deps(request).mailbox.message(viewer, authz.message_id(message_id)))


@router.get("/messages/{message_id}/download", responses={200: {"description": "The recording as a WAV file"}})
def download_audio(request: Request, message_id: str) -> Response:
    """The owner's own message as a WAV file to keep (``Content-Disposition: attachment``); audited."""
    mid = authz.message_id(message_id)
    viewer = authz.owner_viewer(request, "audio.download", mid)
    stream, received_at = web_deps(request).mailbox.download(viewer, mid)
    return audio_response(stream, attachment=download_name(received_at))


@router.get("/messages/{message_id}/audio", responses={206: {"description": "Partial content (Range)"},
                                                       416: {"description": "Range not satisfiable"}})
def get_audio(request: Request, message_id: str, range_header: str | None = Header(None, alias="range"),
              format: Literal["browser", "original"] = "browser") -> Response:
    mid = authz.message_id(message_id)
    viewer = authz.owner_viewer(request, "audio.play", mid)
    stream = web_deps(request).mailbox.audio(viewer, mid, parse_range(range_header), format)
    return audio_response(stream)


@router.post("/messages/{message_id}/read", response_model=MessageOut)
def mark_read(request: Request, message_id: str) -> dict[str, Any]:
    mid = authz.message_id(message_id)
    viewer = authz.owner_viewer(request, "message.mark", mid)
    return message_json(request, web_deps(request).mailbox.mark(viewer, mid, True))


@router.post("/messages/{message_id}/unread", response_model=MessageOut)
def mark_unread(request: Request, message_id: str) -> dict[str, Any]:
    mid = authz.message_id(message_id)
    viewer = authz.owner_viewer(request, "message.mark", mid)
    return message_json(request, web_deps(request).mailbox.mark(viewer, mid, False))


@router.delete("/messages/{message_id}", status_code=204)
def delete_message(request: Request, message_id: str) -> Response:
    mid = authz.message_id(message_id)
    web_deps(request).mailbox.delete(authz.owner_viewer(request, "message.delete", mid), mid)
    return Response(status_code=204)


@router.post("/messages/{message_id}/play-on-phone", status_code=202, response_model=CallRef)
def play_on_phone(request: Request, message_id: str) -> dict[str, Any]:
    """Start the call (202); ``status_url`` tells what became of it (ringing, answered, your phone did
    not answer, busy, ...). 409 with a plain reason when the site has no device template."""
    mid = authz.message_id(message_id)
    viewer = authz.owner_viewer(request, "audio.play_phone", mid)
    mailbox = web_deps(request).mailbox
    call_id = mailbox.play_on_phone(viewer, mid)
    return call_json(mailbox.phone_call(viewer, call_id))


@router.post("/messages/{message_id}/forward", status_code=201, response_model=ForwardOut,
             response_model_exclude_none=True)
def forward(body: ForwardBody, request: Request, message_id: str) -> dict[str, Any]:
    """Forward the message to another mailbox with an optional comment (201); with several sites the answer
    names the mailbox's ``site``. 400 / 409 with a plain reason: no such mailbox, your own, the recipient's
    mailbox full, already there, still being secured."""
    mid = authz.message_id(message_id)
    viewer = authz.owner_viewer(request, "message.forward", mid)
    try:
        done = web_deps(request).mailbox.forward(viewer, mid, body.to, body.comment)
    except FeatureUnavailable:
        raise
    except Conflict as exc:
        raise HTTPException(409, str(exc)[:200]) from None
    return {"to": str(done.to), "forwarded": True, "site": web_deps(request).settings.site_of(done.to) or None}


@router.get("/phone-calls/{call_id}", response_model=CallRef)
def phone_call(request: Request, call_id: str) -> dict[str, Any]:
    call = authz.call_id(call_id)
    viewer = authz.owner_viewer(request, "phone_call.view", None, call=call)
    return call_json(web_deps(request).mailbox.phone_call(viewer, call))


def call_json(status: CallStatus) -> dict[str, Any]:
    return {"call": status.id, "status_url": f"/api/v1/phone-calls/{status.id}", "state": status.state,
            "message": status.message, "final": status.final}


# --- calls and settings --------------------------------------------------------------------------
@router.get("/calls", response_model=CallPage, response_model_exclude_none=True)
def calls(request: Request, offset: int = Query(0, ge=0, le=10_000_000),
          limit: int = Query(50, ge=1, le=200)) -> dict[str, Any]:
    """The signed-in user's calls; with several sites each names its ``site`` (with one there is no such key)."""
    viewer = authz.viewer(request)
    page = web_deps(request).mailbox.call_history(viewer, offset, limit)
    several = len(web_deps(request).settings.sites) > 1
    items = [asdict(c) | {"site": c.site if several else None} for c in page.items]
    return {"items": items, "total": page.total, "offset": page.offset, "limit": page.limit}


@router.get("/me", response_model=AccountOut)
def me(request: Request) -> dict[str, Any]:
    return require(request).account.public()


def settings_json(request: Request) -> dict[str, Any]:
    account = require(request).account
    return {"notify_address": account.notify_address, "timezone": account.timezone, "language": account.language}


@router.get("/me/settings", response_model=SettingsOut)
def get_settings(request: Request) -> dict[str, Any]:
    return settings_json(request)


@router.put("/me/settings", response_model=SettingsOut)
def put_settings(body: SettingsBody, request: Request) -> dict[str, Any]:
    update_settings(request, body.notify_address, body.timezone, body.language)
    return settings_json(request)


def update_settings(request: Request, notify_address: str, timezone: str, language: str) -> None:
    """Validate and store the signed-in user's own settings; audited whatever the outcome."""
    authed = require(request)
    name = authed.account.username
    try:
        account = web_deps(request).accounts.update_settings(authed.account.id, notify_address=notify_address,
                                                             timezone=timezone, language=language)
    except InvalidInput:
        audit(request, name, "settings.update", "denied", reason="invalid settings")
        raise
    request.state.authed = Authed(authed.session, account)
    audit(request, name, "settings.update", "ok", fields=["notify_address", "timezone", "language"])


@router.get("/me/new-messages")
async def new_messages_json(request: Request, after: int | None = Query(default=None, ge=0),
                            wait: float = Query(default=0, ge=0, le=3600)) -> dict[str, Any]:
    """How many new messages the signed-in owner has and when the newest arrived (epoch seconds). With
    ``after`` (the newest the page shows) and ``wait``, the answer waits until something changed in the
    owner's mailboxes or ``wait`` seconds (at most web_inbox_poll_seconds) passed: what an open inbox asks."""
    deps = web_deps(request)
    # an open page asking on its own is not activity: the session still ends after web_session_idle
    await run_in_threadpool(lambda: current(request, touch=False))
    v = await run_in_threadpool(authz.viewer, request)
    longest = min(wait, float(deps.settings.inbox_poll_seconds))
    if deps.feed is None or after is None or longest <= 0 or not v.mailboxes:
        found = await run_in_threadpool(new_messages, request)
    else:
        with deps.feed.watch(v.mailboxes) as watch:
            found = await run_in_threadpool(new_messages, request)
            if found is not None and (found.newest or 0) <= after and await watch.wait(longest):
                found = await run_in_threadpool(new_messages, request)
    return {"new": found.count if found else 0, "newest": found.newest if found else None}
