"""Jinja2 templates: every page gets the signed-in account, its CSRF token and the page language."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from voicemail.web.inv_authz import investigation_roles
from voicemail.web.sessions import current, web_deps
from voicemail.web.unread import unread_count

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def local_time(epoch: int, tz_name: str, now: float | None = None) -> str:
    """To the second (two messages of the same minute differ): "Today 10:42:13 CET" for today in the
    viewer's time zone, else "2026-12-03 10:42:13 CET"."""
    try:
        tz = zoneinfo.ZoneInfo(tz_name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as "America"
        tz = zoneinfo.ZoneInfo("UTC")
    at = dt.datetime.fromtimestamp(epoch, tz)
    today = dt.datetime.fromtimestamp(time.time() if now is None else now, tz).date()
    return at.strftime("Today %H:%M:%S %Z" if at.date() == today else "%Y-%m-%d %H:%M:%S %Z")


def duration(seconds: int) -> str:
    minutes, secs = divmod(max(0, int(seconds)), 60)
    return f"{minutes}:{secs:02d}"


templates.env.filters["duration"] = duration


def pbx_epoch(at: str, zone_name: str) -> int | None:
    """Asterisk's CDR time ("2026-12-04 10:42:13", the phone system's local time in ``zone_name``) as epoch
    seconds; None when it is not such a time. A time the clocks skipped or repeated takes its first reading."""
    try:
        naive = dt.datetime.strptime((at or "").strip()[:19], "%Y-%m-%d %H:%M:%S")
        zone = zoneinfo.ZoneInfo(zone_name or "UTC")
    except (ValueError, zoneinfo.ZoneInfoNotFoundError, OSError):
        return None
    return int(naive.replace(tzinfo=zone).timestamp())


def account_zone(request: Request) -> str:
    """The signed-in person's time zone (their setting, else the site's default)."""
    authed = current(request) if hasattr(request.app.state, "web") else None
    account = authed.account if authed else None
    return (account.timezone if account and account.timezone else None) or web_deps(request).settings.default_timezone


def render(request: Request, name: str, context: dict[str, Any], *, status: int = 200,
           headers: dict[str, str] | None = None, csrf_token: str | None = None) -> Response:
    authed = current(request) if hasattr(request.app.state, "web") else None
    account = authed.account if authed else None
    tz = account_zone(request)
    ctx = {"account": account, "csrf_token": csrf_token or (authed.session.csrf_token if authed else ""),
           "lang": "en", "tz": tz,  # pages are English only; the language setting is stored for later use
           "local_time": lambda epoch: local_time(epoch, tz),
           "inv_roles": investigation_roles(request) if account else frozenset(),
           "unread": unread_count(request) if account else None, **context}
    return templates.TemplateResponse(request, name, ctx, status_code=status,
                                      headers={"Cache-Control": "no-store", **(headers or {})})
