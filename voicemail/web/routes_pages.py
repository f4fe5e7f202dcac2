"""Server-rendered pages: sign-in, inbox, player, call history, settings. Plain HTML forms carrying
csrf_token, so everything works without JavaScript and by keyboard alone."""

from __future__ import annotations

import contextlib
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from voicemail.domain.errors import InvalidInput, NotFound
from voicemail.domain.mailbox import InboxQuery
from voicemail.domain.models import MailboxRef
from voicemail.services.call_history import desk_history
from voicemail.web import authz
from voicemail.web.caller_display import caller_display, caller_label
from voicemail.web.csrf import csrf_protect
from voicemail.web.inbox_search import parse_search
from voicemail.web.next_url import MAX_LENGTH as MAX_NEXT
from voicemail.web.next_url import safe_next
from voicemail.web.pager import PageLink, page_count, page_links
from voicemail.web.password_change import change_password
from voicemail.web.render import account_zone, pbx_epoch, render
from voicemail.web.routes_api import update_settings
from voicemail.web.routes_bulk import bulk_notice
from voicemail.web.sessions import current, end_session, presignin, require, web_deps
from voicemail.web.settings_rules import LANGUAGES, offered_timezones
from voicemail.web.signin import password_signin
from voicemail.web.unread import new_messages

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
PAGE_SIZE = 25
SORTS = (("newest", "Newest first"), ("oldest", "Oldest first"), ("longest", "Longest first"),
         ("shortest", "Shortest first"))
NOTICES = {"read": "Marked as read.", "unread": "Marked as unread.", "deleted": "Message deleted.",
           "calling": "Calling your phone. Answer it to hear the message.", "saved": "Settings saved.",
           "pin": "Phone PIN changed.",
           "password": "Password changed. Every other place you were signed in has been signed out.",
           "totp": "Two-step sign-in is on. From now on, sign-in asks for a code from your app.",
           "forwarded": "Message forwarded."}


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _copy_cookies(src: Response, dst: Response) -> Response:
    dst.raw_headers.extend((k, v) for k, v in src.raw_headers if k == b"set-cookie")
    return dst


def notice(key: str | None) -> str:
    return NOTICES.get(key or "", "")


# --- sign-in -------------------------------------------------------------------------------------
def _signin_page(request: Request, *, error: str = "", username: str = "", status: int = 200,
                 next_path: str | None = None, headers: dict[str, str] | None = None) -> Response:
    holder = Response()
    token = presignin(request, holder).csrf_token
    page = render(request, "signin.html", {"error": error, "username": username, "notice": "",
                                           "next": next_path or "", "links": web_deps(request).signin_links},
                  status=status, csrf_token=token, headers=headers)
    return _copy_cookies(holder, page)


@router.get("/signin")
def signin_form(request: Request, next: str | None = Query(None, max_length=MAX_NEXT)) -> Response:
    target = safe_next(next)
    if current(request) is not None:
        return redirect(target or "/")
    return _signin_page(request, next_path=target)


@router.post("/signin")
def signin_submit(request: Request, username: str = Form("", max_length=200),
                  password: str = Form("", max_length=1024), totp: str = Form("", max_length=16),
                  next: str = Form("", max_length=MAX_NEXT)) -> Response:
    target = safe_next(next)
    response = redirect(target or "/")
    result = password_signin(request, response, username, password, totp)
    if result.ok:
        return response
    return _signin_page(request, error=result.message, username=username[:64], status=result.status,
                        next_path=target, headers=result.headers(request))


@router.post("/signout")
def signout(request: Request) -> Response:
    response = redirect("/signin")
    end_session(request, response)
    return response


# --- inbox ---------------------------------------------------------------------------------------
def _mailbox_choice(request: Request, text: str | None) -> tuple[MailboxRef | None, list[str], bool]:
    v = authz.viewer(request)
    choices = [m.qualified for m in v.mailboxes]
    admin_pick = v.is_administrator
    if text:
        ref = MailboxRef.parse(text.strip())
        # a site that is not configured is bad input (400, naming the configured ones), not a missing mailbox
        ref = ref.on_site(web_deps(request).settings.site_of_request(ref.site))
        authz.require_listing(request, v, ref)
        return ref, choices, admin_pick
    return (v.mailboxes[0] if v.mailboxes else None), choices, admin_pick


@router.get("/")
def inbox(request: Request, mailbox: str | None = Query(None, max_length=160),
          folder: Literal["INBOX", "Old", ""] = "", caller: Literal["internal", "external", "anonymous", ""] = "",
          sort: Literal["newest", "oldest", "longest", "shortest"] = "newest", urgent: bool = False,
          page: int = Query(1, ge=1, le=100_000), n: str | None = Query(None, max_length=20),
          who: str = Query("", max_length=200), date_from: str = Query("", alias="from", max_length=40),
          date_to: str = Query("", alias="to", max_length=40), b: str | None = Query(None, max_length=20)) -> Response:
    require(request)
    ref, choices, admin_pick = _mailbox_choice(request, mailbox)
    q = {"folder": folder, "caller": caller, "sort": sort, "urgent": urgent, "who": who[:64],
         "from": date_from[:10], "to": date_to[:10]}
    result = None
    prev_url = next_url = ""
    pages: list[PageLink] = []
    page_total = 1
    search_error = ""
    try:
        search = parse_search(who, date_from, date_to, account_zone(request))
    except InvalidInput as exc:
        search_error, search = str(exc), None
    if ref is not None and search is not None:
        query = InboxQuery(folder=folder or None, urgent_only=urgent, caller_kind=caller or None, sort=sort,
                           offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE, caller_text=search.caller,
                           received_from=search.received_from, received_before=search.received_before)
        try:
            result = web_deps(request).mailbox.inbox(authz.viewer(request), ref, query)
        except InvalidInput as exc:
            search_error = str(exc)
    if ref is not None and result is not None:
        params: dict[str, Any] = {k: v for k, v in {"mailbox": ref.qualified, "folder": folder,
                                                     "caller": caller, "sort": sort,
                                                     "urgent": "true" if urgent else "", "who": who,
                                                     "from": date_from, "to": date_to}.items() if v}
        def url_for(number: int) -> str:
            return "/?" + urlencode({**params, "page": number})

        if page > 1:
            prev_url = url_for(page - 1)
        if result.offset + len(result.items) < result.total:
            next_url = url_for(page + 1)
        pages = page_links(page, result.total, PAGE_SIZE, url_for)
        page_total = page_count(result.total, PAGE_SIZE)
    return render(request, "inbox.html", {
        "active": "inbox", "mailbox": ref, "mailbox_text": ref.qualified if ref else "",
        "site": web_deps(request).settings.site_of(ref) if ref else "",
        "choices": choices, "admin_pick": admin_pick, "page": result, "q": q, "sorts": SORTS,
        "prev_url": prev_url, "next_url": next_url, "pages": pages, "page_number": page,
        "page_total": page_total, "poll_seconds": web_deps(request).settings.inbox_poll_seconds,
        "newest_new": (fresh.newest or 0) if (fresh := new_messages(request)) else 0,
        "caller_label": caller_label, "caller_of": caller_display, "search_error": search_error,
        "searching": bool(who.strip() or date_from.strip() or date_to.strip()),
        "can_act": ref is not None and "owner" in authz.viewer(request).roles and authz.viewer(request).owns(ref),
        "notice": notice(n) or bulk_notice(b), "back": str(request.url.path) + (
            "?" + request.url.query if request.url.query else "")})


# --- one message ---------------------------------------------------------------------------------
@router.get("/messages/{message_id}")
def player(request: Request, message_id: str, n: str | None = Query(None, max_length=20),
           call: str | None = Query(None, max_length=32), to: str | None = Query(None, max_length=170)) -> Response:
    v = authz.viewer(request)
    mailbox = web_deps(request).mailbox
    item = mailbox.message(v, authz.message_id(message_id))
    phone_call = None
    if call and v.owns(item.mailbox):
        with contextlib.suppress(InvalidInput, NotFound):  # an old or foreign call id: just no status
            phone_call = mailbox.phone_call(v, authz.call_id(call))
    owner = v.owns(item.mailbox)
    return render(request, "message.html", {"m": item, "can_listen": owner,
                                            "site": web_deps(request).settings.site_of(item.mailbox),
                                            "caller_label": caller_label, "caller_of": caller_display,
                                            "notice": _forward_notice(n, to), "phone_call": phone_call,
                                            "plays_on_phones": mailbox.plays_on_phones, "forwards": mailbox.forwards,
                                            "forward_note": mailbox.forward_note(v, item.id) if owner else None})


def _forward_notice(n: str | None, to: str | None) -> str:
    if n == "forwarded" and to:
        with contextlib.suppress(InvalidInput):
            return f"Message forwarded to mailbox {MailboxRef.parse(to).mailbox}."
    return notice(n)


@router.get("/messages/{message_id}/delete")
def confirm_delete(request: Request, message_id: str) -> Response:
    mid = authz.message_id(message_id)
    v = authz.owner_viewer(request, "message.delete", mid)
    item = web_deps(request).mailbox.message(v, mid)
    if not v.owns(item.mailbox):
        raise authz.refuse(request, v, "message.delete", "not the mailbox owner", message_id=mid)
    return render(request, "confirm_delete.html", {"m": item, "caller_label": caller_label})


@router.post("/messages/{message_id}/read")
def page_mark_read(request: Request, message_id: str) -> Response:
    mid = authz.message_id(message_id)
    web_deps(request).mailbox.mark(authz.owner_viewer(request, "message.mark", mid), mid, True)
    return redirect(f"/messages/{mid}?n=read")


@router.post("/messages/{message_id}/unread")
def page_mark_unread(request: Request, message_id: str) -> Response:
    mid = authz.message_id(message_id)
    web_deps(request).mailbox.mark(authz.owner_viewer(request, "message.mark", mid), mid, False)
    return redirect(f"/messages/{mid}?n=unread")


@router.post("/messages/{message_id}/delete")
def page_delete(request: Request, message_id: str) -> Response:
    mid = authz.message_id(message_id)
    web_deps(request).mailbox.delete(authz.owner_viewer(request, "message.delete", mid), mid)
    return redirect("/?n=deleted")


@router.post("/messages/{message_id}/play")
def page_play(request: Request, message_id: str) -> Response:
    mid = authz.message_id(message_id)
    call_id = web_deps(request).mailbox.play_on_phone(authz.owner_viewer(request, "audio.play_phone", mid), mid)
    return redirect(f"/messages/{mid}?call={call_id}")


# --- calls and settings --------------------------------------------------------------------------
@router.get("/calls")
def calls(request: Request, page: int = Query(1, ge=1, le=100_000)) -> Response:
    v = authz.viewer(request)
    result = web_deps(request).mailbox.call_history(v, (page - 1) * PAGE_SIZE, PAGE_SIZE)
    prev_url = f"/calls?page={page - 1}" if page > 1 else ""
    next_url = f"/calls?page={page + 1}" if result.offset + len(result.items) < result.total else ""
    store = web_deps(request).desk_signins
    desks = desk_history(store, v.mailboxes) if store is not None and page == 1 else []
    pbx_zone = web_deps(request).settings.pbx_timezone
    several = len(web_deps(request).settings.sites) > 1  # each call's site, as the inbox names a mailbox's
    return render(request, "calls.html", {"active": "calls", "page": result, "prev_url": prev_url,
                                          "next_url": next_url, "desks": desks, "show_site": several,
                                          "call_epoch": lambda at: pbx_epoch(at, pbx_zone)})


def _settings_page(request: Request, form: dict[str, str], error: str = "", status: int = 200,
                   n: str | None = None, pin_error: str = "", **extra: Any) -> Response:
    zones = offered_timezones()
    deps = web_deps(request)
    return render(request, "settings.html", {"active": "settings", "form": form, "error": error, "zones": zones,
                                             "languages": LANGUAGES, "notice": notice(n),
                                             "default_tz": deps.settings.default_timezone,
                                             "pin_min": deps.pins.min_length if deps.pins is not None else 0,
                                             "pin_error": pin_error, **extra}, status=status)


@router.get("/settings")
def settings_form(request: Request, n: str | None = Query(None, max_length=20)) -> Response:
    account = require(request).account
    return _settings_page(request, {"notify_address": account.notify_address, "timezone": account.timezone,
                                    "language": account.language}, n=n)


@router.post("/settings")
def settings_submit(request: Request, notify_address: str = Form("", max_length=254),
                    timezone: str = Form("", max_length=64), language: str = Form("", max_length=16)) -> Response:
    form = {"notify_address": notify_address, "timezone": timezone, "language": language}
    try:
        update_settings(request, notify_address, timezone, language)
    except InvalidInput as exc:
        return _settings_page(request, form, error=str(exc), status=400)
    return redirect("/settings?n=saved")


@router.post("/settings/password")
def password_submit(request: Request, current_password: str = Form("", max_length=1024),
                    new_password: str = Form("", max_length=1100),
                    new_password_again: str = Form("", max_length=1100)) -> Response:
    """The signed-in person changes their own password (audited as password.change)."""
    account = require(request).account
    form = {"notify_address": account.notify_address, "timezone": account.timezone, "language": account.language}
    response = redirect("/settings?n=password")
    try:
        change_password(request, response, current_password, new_password, new_password_again)
    except InvalidInput as exc:
        return _settings_page(request, form, status=400, password_error=str(exc))
    return response


@router.post("/settings/phone-pin")
def phone_pin_submit(request: Request, mailbox: str = Form("", max_length=170), pin: str = Form("", max_length=40),
                     pin_again: str = Form("", max_length=40)) -> Response:
    """The owner sets the PIN of one of their mailboxes for the telephone menu (audited as phone.pin.set)."""
    v = authz.owner_viewer(request, "phone.pin.set", None)
    pins = web_deps(request).pins
    account = require(request).account
    form = {"notify_address": account.notify_address, "timezone": account.timezone, "language": account.language}
    owned = {m.qualified: m for m in v.mailboxes}
    ref = owned.get(mailbox) or (v.mailboxes[0] if len(v.mailboxes) == 1 and not mailbox else None)
    if pins is None or ref is None:
        raise NotFound("not found")
    try:
        if pin != pin_again:
            raise InvalidInput("the two PINs are not the same")
        pins.set_pin(ref, pin.strip(), actor=v.account, source=v.source)
    except InvalidInput as exc:
        return _settings_page(request, form, status=400, pin_error=str(exc))
    return redirect("/settings?n=pin")
