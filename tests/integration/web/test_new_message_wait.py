"""An open inbox's request for new messages waits, and answers as soon as a message reaches the mailbox."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.pipeline.harness import make_wav
from tests.integration.web.test_web_pages import form_sign_in
from tests.integration.web.web_harness import BASE, WebSite, web_site
from voicemail.web.app import create_app
from voicemail.web.sessions_store import SessionStore


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("wait")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}") as s:
        yield s


def _wait_in_background(site: WebSite, user: str, after: int, wait: float) -> tuple[threading.Thread, dict[str, Any]]:
    client = site.client()
    form_sign_in(client, user)
    out: dict[str, Any] = {}

    def ask() -> None:
        response = client.get(f"/api/v1/me/new-messages?after={after}&wait={wait}")
        out["at"], out["status"], out["body"] = time.monotonic(), response.status_code, response.json()

    thread = threading.Thread(target=ask)
    thread.start()
    return thread, out


def _state(site: WebSite, user: str) -> tuple[int, int]:
    """(newest, number of new messages) as the owner's open inbox knows them."""
    client = site.client()
    form_sign_in(client, user)
    body = client.get("/api/v1/me/new-messages").json()
    return int(body["newest"] or 0), int(body["new"])


def _newest(site: WebSite, user: str) -> int:
    return _state(site, user)[0]


def test_a_waiting_inbox_hears_of_a_new_message_within_two_seconds_of_its_custody(site: WebSite) -> None:
    after, new = _state(site, "bob")
    thread, out = _wait_in_background(site, "bob", after, 20)
    time.sleep(1.5)  # the request is waiting
    assert thread.is_alive()
    site.box.leave("1002@default", make_wav(1.0, 71))  # returns once the message is sealed and stripped
    sealed = time.monotonic()
    thread.join(10)
    assert out["status"] == 200
    assert out["body"]["new"] == new + 1 and out["body"]["newest"] >= after
    assert out["at"] - sealed <= 2.0


def test_a_change_in_another_mailbox_does_not_wake_the_owner(site: WebSite) -> None:
    after = _newest(site, "bob")
    start = time.monotonic()
    thread, out = _wait_in_background(site, "bob", after, 4)
    time.sleep(0.5)
    site.box.leave("1001@default", make_wav(1.0, 72))  # alice's mailbox, not bob's
    thread.join(15)
    assert out["status"] == 200
    assert out["at"] - start >= 3.5  # waited its whole time


def test_a_wait_is_capped_by_the_setting_and_needs_a_session(site: WebSite) -> None:
    client = site.client()
    assert client.get("/api/v1/me/new-messages?after=0&wait=5",
                      headers={"Accept": "application/json"}).status_code == 401
    site.rebuild(inbox_poll_seconds=1)
    try:
        after = _newest(site, "bob")
        start = time.monotonic()
        thread, out = _wait_in_background(site, "bob", after, 30)
        thread.join(10)
        assert out["status"] == 200 and out["at"] - start < 5
    finally:
        site.rebuild(inbox_poll_seconds=25)
    assert client.get("/api/v1/me/new-messages?after=-1&wait=5").status_code in (401, 422)


def test_an_open_inbox_asking_for_news_does_not_keep_an_idle_session_alive(site: WebSite) -> None:
    now = [time.time()]
    sessions = SessionStore(site.box.container.engine, 120.0, 43200.0, clock=lambda: now[0])
    client = TestClient(create_app(dataclasses.replace(site.deps, sessions=sessions)), base_url=BASE,
                        raise_server_exceptions=False)
    form_sign_in(client, "bob")
    for _ in range(5):  # the page asks every 25 s on its own for 125 s, nobody touching it
        now[0] += 25
        client.get("/api/v1/me/new-messages?after=0&wait=0")
    assert client.get("/api/v1/me/new-messages").status_code == 401  # idle for 125 s > 120 s: signed out
    form_sign_in(client, "bob")
    for _ in range(5):  # the person clicks around: each page is activity
        now[0] += 25
        assert client.get("/").status_code == 200
    assert client.get("/api/v1/me/new-messages").status_code == 200
