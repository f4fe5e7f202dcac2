"""The call-history page lists the viewer's own extension-mobility sign-ins (device, when, how it ended)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.integration.web.test_web_pages import form_sign_in
from tests.integration.web.web_harness import WebSite, web_site
from voicemail.domain.models import MailboxRef
from voicemail.phone.hotdesk_store import SqlHotdeskStore


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("desks")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}") as s:
        yield s


def test_call_history_shows_only_the_viewers_own_desk_sign_ins(site: WebSite) -> None:
    store = SqlHotdeskStore(site.box.container.engine)
    t = time.time() - 7200
    store.open("SEP00AABB0001", MailboxRef("default", "1001"), t, "test")
    store.close("SEP00AABB0001", t + 3600, "expired")
    store.open("SEP00AABB0002", MailboxRef("default", "1001"), t + 4000, "test")
    store.open("SEP00AABB0003", MailboxRef("default", "1002"), t + 4000, "test")
    alice = site.client()
    form_sign_in(alice, "alice")
    html = alice.get("/calls").text
    assert '<h2 id="desk-phones">Desk phones you signed in to</h2>' in html
    assert "SEP00AABB0001" in html and "(automatically, time limit)" in html
    assert "SEP00AABB0002" in html and "Still signed in" in html
    assert "SEP00AABB0003" not in html  # bob's
    admin = site.client()
    form_sign_in(admin, "admin")
    assert "SEP00AABB" not in admin.get("/calls").text  # an administrator owns no mailbox: sees none
