"""Play on my phone in the web: the button only when a device template is set, the outcome of the call
told in plain words on the page and by the API, a clear reason when the site has no device template."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.pipeline.harness import wait_for
from tests.integration.web.test_web_pages import form_sign_in, token_in
from tests.integration.web.web_harness import BASE, WebSite, web_site


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    """Every owner's phone is the stand-in's busy phone (q11 case c)."""
    tmp = tmp_path_factory.mktemp("busy")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}", phone_device_template="Local/busy@phonesim/n",
                  phone_ring_timeout=2.0) as s:
        yield s


@pytest.fixture(scope="module")
def no_phones(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("nophones")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}") as s:
        yield s


def test_the_page_tells_the_user_their_phone_is_busy(busy: WebSite) -> None:
    mid, _ = busy.leave(seed=51)
    client = busy.client()
    form_sign_in(client, "alice")
    page = client.get(f"/messages/{mid}").text
    assert ">Play on my phone</button>" in page and 'role="status"' not in page
    r = client.post(f"/messages/{mid}/play", data={"csrf_token": token_in(page)}, headers={"Origin": BASE},
                    follow_redirects=False)
    assert r.status_code == 303
    where = r.headers["location"]
    call = where.split("call=", 1)[1]
    api = f"/api/v1/phone-calls/{call}"
    wait_for(lambda: client.get(api).json()["final"], 20, "the busy outcome")
    assert client.get(api).json() == {"call": call, "status_url": api, "state": "busy",
                                      "message": "Your phone is busy.", "final": True}
    shown = client.get(where).text
    assert 'role="status"' in shown and "Your phone is busy." in shown and "Check again" not in shown
    assert list(busy.box.services._phone.staging_dir.iterdir()) == []  # type: ignore[union-attr]
    bob = busy.client()
    form_sign_in(bob, "bob")
    assert bob.get(api).status_code == 404  # someone else's call
    assert "Your phone is busy." not in bob.get(where).text
    assert client.get("/api/v1/phone-calls/..%2F..%2Fetc").status_code in (400, 404)


def test_the_api_starts_a_call_and_reports_it_ringing(busy: WebSite) -> None:
    mid, _ = busy.leave(seed=52)
    client = busy.client()
    form_sign_in(client, "alice")
    token = token_in(client.get(f"/messages/{mid}").text)
    r = client.post(f"/api/v1/messages/{mid}/play-on-phone", headers={"Origin": BASE, "X-CSRF-Token": token})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["state"] in ("ringing", "busy") and body["status_url"] == f"/api/v1/phone-calls/{body['call']}"


def test_without_a_device_template_the_button_is_hidden_and_the_api_says_why(no_phones: WebSite) -> None:
    mid, _ = no_phones.leave(seed=53)
    client = no_phones.client()
    form_sign_in(client, "alice")
    page = client.get(f"/messages/{mid}").text
    assert "Play on my phone" not in page and ">Mark as read</button>" in page
    token = token_in(page)
    r = client.post(f"/api/v1/messages/{mid}/play-on-phone", headers={"Origin": BASE, "X-CSRF-Token": token})
    assert r.status_code == 409 and r.json() == {"detail": "Play on my phone is not set up on this site"}
    r = client.post(f"/messages/{mid}/play", data={"csrf_token": token}, headers={"Origin": BASE})
    assert r.status_code == 409 and "Play on my phone is not set up on this site" in r.text
