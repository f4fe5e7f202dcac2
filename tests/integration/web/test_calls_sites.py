"""The call history with several sites: extension 1001 on another Asterisk is another person's phone, so
each owner sees only the calls of their own mailbox's site; the page and the API name the site only when
more than one is configured."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import insert

from tests.integration.web.test_web_pages import form_sign_in
from tests.integration.web.web_harness import PASSWORD, WebSite, sign_in, web_site
from voicemail.audit.tables import cdrs
from voicemail.domain.models import MailboxRef

# (site, source, destination, channel, start): a call to each site's 1001, and one each 1001 placed
CALLS = [("default", "+12025550111", "1001", "PJSIP/trunk-00000001", "2026-07-01 09:00:00"),
         ("default", "1001", "1002", "PJSIP/1001-00000002", "2026-07-01 10:00:00"),
         ("branch", "+442071234567", "1001", "PJSIP/trunk-00000003", "2026-07-01 11:00:00"),
         ("branch", "1001", "2002", "PJSIP/1001-00000004", "2026-07-01 12:00:00")]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("calls-sites")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}", calls_device_template="PJSIP/{number}") as s:
        s.deps.accounts.add("dora", roles=("owner",), mailboxes=(MailboxRef.parse("1001@default@branch"),),
                            numbers=("1001",), password=PASSWORD)
        with s.box.container.engine.begin() as conn:
            for n, (where, source, destination, channel, start) in enumerate(CALLS):
                conn.execute(insert(cdrs).values(
                    site=where, unique_id=f"1782900000.{n}", system_name="", account_code="", source=source,
                    destination=destination, destination_context="from-internal", caller_id=f'"" <{source}>',
                    channel=channel, destination_channel="", last_application="Dial", last_data="",
                    start_time=start, answer_time=start, end_time=start, duration=10, billable_seconds=8,
                    disposition="ANSWERED", ama_flags="DOCUMENTATION", user_field="", received_at=start))
        yield s


def test_each_owner_of_extension_1001_sees_only_their_own_site_s_calls(site: WebSite) -> None:
    alice, dora = site.client(), site.client()
    form_sign_in(alice, "alice")
    form_sign_in(dora, "dora")
    alice_page, dora_page = alice.get("/calls").text, dora.get("/calls").text
    assert "+12025550111" in alice_page and "+442071234567" not in alice_page and "2002" not in alice_page
    assert "+442071234567" in dora_page and "+12025550111" not in dora_page and "of 2 " in dora_page
    assert 'data-testid="call-site"' not in dora_page  # one site configured: no site column
    assert '<table class="calls" data-testid="calls">' in dora_page  # and the table as before


def test_with_several_sites_the_page_and_the_api_name_each_call_s_site(site: WebSite) -> None:
    site.rebuild(sites=("default", "branch"), default_site="default")
    try:
        dora = site.client()
        form_sign_in(dora, "dora")
        page = dora.get("/calls").text
        assert '<th scope="col">Site</th>' in page
        # six columns do not fit a phone: the listing becomes one labelled card per call there
        assert 'class="calls cards"' in page and '<td data-label="Site" data-testid="call-site">' in page
        assert re.findall(r'data-testid="call-site">([^<]*)<', page) == ["branch", "branch"]
        api = site.client()
        sign_in(api, "dora")
        items = api.get("/api/v1/calls").json()["items"]
        assert [(c["site"], c["direction"], c["other_party"]) for c in items] == [
            ("branch", "placed", "2002"), ("branch", "received", "+442071234567")]
    finally:
        site.rebuild(sites=(), default_site="default")
    api = site.client()
    sign_in(api, "alice")
    items = api.get("/api/v1/calls").json()["items"]
    assert [c["other_party"] for c in items] == ["1002", "+12025550111"]
    assert all("site" not in c for c in items)  # one site: the API's answer as before sites
