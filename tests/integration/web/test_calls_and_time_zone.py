"""The call history in the person's own time zone (the CDRs' StartTime is the phone system's clock,
pbx_timezone), with a dialplan's internal extension names ("play") replaced by words; the settings page
picks the time zone from a list and accepts a zone name in any case."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from tests.integration.web.test_web_pages import form_sign_in, token_in
from tests.integration.web.web_harness import BASE, WebSite, web_site
from voicemail.audit.tables import cdrs


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp: Path = tmp_path_factory.mktemp("calls")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}") as s:
        s.rebuild(pbx_timezone="Europe/Berlin")
        with s.box.container.engine.begin() as conn:
            for n, (source, destination, channel, app, start) in enumerate([
                ("+12025550111", "1001", "PJSIP/trunk-00000001", "Dial", "2026-07-01 14:00:05"),
                ("1001", "play", "PJSIP/1001-00000002", "VoiceMail", "2026-07-01 15:30:00"),
                ("1001", "s", "PJSIP/1001-00000003", "Hangup", "2026-07-01 16:00:00"),
            ]):
                conn.execute(insert(cdrs).values(
                    unique_id=f"1782900000.{n}", system_name="", account_code="", source=source,
                    destination=destination, destination_context="from-internal", caller_id=f'"" <{source}>',
                    channel=channel, destination_channel="", last_application=app, last_data="",
                    start_time=start, answer_time=start, end_time=start, duration=10, billable_seconds=8,
                    disposition="ANSWERED", ama_flags="DOCUMENTATION", user_field="", received_at=start))
        yield s


def save_zone(client: TestClient, zone: str) -> int:
    page = client.get("/settings").text
    r = client.post("/settings", data={"csrf_token": token_in(page), "notify_address": "", "timezone": zone,
                                       "language": ""}, headers={"Origin": BASE}, follow_redirects=False)
    status: int = r.status_code
    return status


def test_settings_offer_a_list_of_zones_not_free_text(site: WebSite) -> None:
    client = site.client()
    form_sign_in(client, "alice")
    page = client.get("/settings").text
    assert '<select id="timezone" name="timezone"' in page
    assert 'name="timezone" type="text"' not in page
    assert '<option value="America/New_York">America/New York</option>' in page
    assert '<option value="UTC">UTC</option>' in page


@pytest.mark.parametrize(("typed", "stored"), [("america/new_york", "America/New_York"),
                                               ("EUROPE/BERLIN", "Europe/Berlin"), ("utc", "UTC")])
def test_a_zone_name_in_any_case_is_stored_as_the_database_writes_it(site: WebSite, typed: str,
                                                                     stored: str) -> None:
    client = site.client()
    form_sign_in(client, "alice")
    assert save_zone(client, typed) == 303
    assert f'<option value="{stored}" selected>' in client.get("/settings").text


@pytest.mark.parametrize("typed", ["america", "Mars/Base", "../etc/passwd"])
def test_what_is_no_zone_is_refused(site: WebSite, typed: str) -> None:
    client = site.client()
    form_sign_in(client, "alice")
    assert save_zone(client, typed) == 400


def test_call_history_is_in_the_owners_zone_and_names_no_dialplan_extension(site: WebSite) -> None:
    client = site.client()
    form_sign_in(client, "alice")
    assert save_zone(client, "America/New_York") == 303
    page = client.get("/calls").text
    assert "(times in America/New_York)" in page
    # 14:00:05 on the phone system's clock in Berlin (CEST, UTC+2) is 08:00:05 in New York (EDT, UTC-4)
    assert re.search(r"2026-07-01 08:00:05 EDT", page), page[page.find("<tbody>"):][:600]
    assert "2026-07-01 09:30:00 EDT" in page and "2026-07-01 10:00:00 EDT" in page
    rows = re.findall(r"<tr>.*?</tr>", page[page.find("<tbody>"):], re.S)
    assert not any(re.search(r"<td>\s*(play|s)\s*</td>", row) for row in rows)
    assert "Voicemail (leaving a message)" in page and "Phone system service" in page
    assert "+12025550111" in page  # a real number is still shown as it is
    api = client.get("/api/v1/calls").json()
    assert {c["other_party"] for c in api["items"]} == {"+12025550111", "Voicemail (leaving a message)",
                                                        "Phone system service"}
