"""Validation of a user's own settings: notification address, time zone, language."""

from __future__ import annotations

import functools
import re
import zoneinfo

from mailer.sanitize import is_plain_address
from voicemail.domain.errors import InvalidInput

_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}")  # fullmatch
# Offered on the settings page (any well-formed tag is accepted from the API): code -> name in that language.
LANGUAGES = {"en": "English", "en-US": "English (United States)", "es": "Español", "es-US": "Español (EE. UU.)",
             "fr": "Français", "de": "Deutsch", "zh": "中文", "vi": "Tiếng Việt", "ko": "한국어", "ar": "العربية",
             "ru": "Русский", "pt": "Português", "ja": "日本語", "it": "Italiano"}


@functools.cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def _by_folded_name() -> dict[str, str]:
    return {name.casefold(): name for name in known_timezones()}


def offered_timezones() -> list[str]:
    """The zones the settings page offers (Region/City names; not the Etc/ and SystemV/ aliases)."""
    return [*sorted(z for z in known_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))), "UTC"]


def check_timezone(name: str) -> str:
    """Only a name of the IANA database is accepted, in any case ("europe/berlin" is stored as
    "Europe/Berlin"): a folder of it ("America") is no zone, and opening one as a file raises
    IsADirectoryError."""
    if not name:
        return ""
    name = _by_folded_name().get(name.casefold(), name) if len(name) <= 64 else name
    if len(name) > 64 or ".." in name or name.startswith("/") or name not in known_timezones():
        raise InvalidInput("unknown time zone")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput("unknown time zone") from None
    return name


def check_settings(notify_address: str, timezone: str, language: str) -> dict[str, str]:
    notify_address = (notify_address or "").strip()
    if notify_address and (len(notify_address) > 254 or not is_plain_address(notify_address)):
        raise InvalidInput("the notification address must be a plain e-mail address like name@example.org")
    language = (language or "").strip()
    if language and not _LANGUAGE.fullmatch(language):
        raise InvalidInput("the language must be a language tag like en or en-US")
    return {"notify_address": notify_address, "timezone": check_timezone((timezone or "").strip()),
            "language": language}
