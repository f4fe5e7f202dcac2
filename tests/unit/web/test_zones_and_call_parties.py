"""Time-zone names in any case, the phone system's CDR times, and call parties in words."""

from __future__ import annotations

import pytest

from voicemail.domain.errors import InvalidInput
from voicemail.services.call_history import SERVICE, readable_party
from voicemail.web.render import pbx_epoch
from voicemail.web.settings_rules import check_timezone, offered_timezones


def test_zone_names_match_in_any_case() -> None:
    assert check_timezone("europe/berlin") == "Europe/Berlin"
    assert check_timezone("America/NEW_YORK") == "America/New_York"
    assert check_timezone("") == ""


@pytest.mark.parametrize("name", ["america", "Europe", "x" * 65, "../../etc/passwd", "Mars/Base"])
def test_what_is_no_zone_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_timezone(name)


def test_the_list_offers_cities_and_utc_but_no_aliases() -> None:
    zones = offered_timezones()
    assert "Europe/Berlin" in zones and "UTC" in zones
    assert not [z for z in zones if z.startswith(("Etc/", "SystemV/"))]


def test_cdr_times_are_read_in_the_phone_systems_zone() -> None:
    assert pbx_epoch("2026-07-01 14:00:05", "Europe/Berlin") == pbx_epoch("2026-07-01 12:00:05", "UTC")
    assert pbx_epoch("not a time", "UTC") is None
    assert pbx_epoch("2026-07-01 14:00:05", "Mars/Base") is None


@pytest.mark.parametrize(("party", "app", "shown"), [
    ("1001", "Dial", "1001"), ("+12025550111", "", "+12025550111"), ("*97", "VoiceMailMain", "*97"),
    ("play", "VoiceMail", "Voicemail (leaving a message)"), ("play", "Playback", "Recorded announcement"),
    ("s", "Hangup", SERVICE), ("voicemail-menu", "AGI", "Voicemail menu"), ("", "Dial", ""),
])
def test_dialplan_extension_names_become_words(party: str, app: str, shown: str) -> None:
    assert readable_party(party, app) == shown
