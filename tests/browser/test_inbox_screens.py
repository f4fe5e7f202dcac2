"""The web inbox as an owner sees it on a desktop (1280×800) and a phone (390×844): every page fits the
screen without horizontal scrolling and passes axe-core; a faked caller is marked as such; links survive
sign-in; opening a message plays nothing and audits nothing, playing it to the end marks it read.
Screenshots of each page at both sizes go to tests/browser/artifacts/ (screen-<page>-<size>.png)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.browser.axe import assert_axe_clean
from tests.browser.conftest import OWNER_MAILBOX, WebSite, shot
from tests.integration.pipeline.harness import make_wav, wait_for
from voicemail.audit.tables import audit_events
from voicemail.db.engine import make_engine

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# page name -> (path with {key} = that message's id, signed in?)
SCREENS: dict[str, tuple[str, bool]] = {
    "inbox": ("/", True),
    "message": ("/messages/{spoof}", True),
    "signin": ("/signin", False),
    "calls": ("/calls", True),
    "settings": ("/settings", True),
}


@pytest.fixture
def sized(request: pytest.FixtureRequest, browser: Any, web_site: WebSite,
          signed_in_state: dict[str, Any]) -> Iterator[Any]:
    """A page at the size named by the test's `size` parameter; signed in unless `signed_out` is set."""
    size, signed_in = request.param
    ctx = browser.new_context(base_url=web_site.base_url, viewport=SIZES[size], bypass_csp=True,
                              storage_state=signed_in_state if signed_in else None)
    ctx.set_default_timeout(10_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def path_of(web: WebSite, template: str) -> str:
    return template.format(**{k: m.id for k, m in web.messages.items() if k.isidentifier()})


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the screen (0: no horizontal scrolling)."""
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


CASES = [pytest.param((size, signed), name, id=f"{name}-{size}")
         for name, (_, signed) in SCREENS.items() for size in SIZES]


@pytest.mark.parametrize(("sized", "name"), CASES, indirect=["sized"])
def test_every_page_fits_the_screen_and_passes_axe(sized: Any, web_site: WebSite, name: str) -> None:
    page = sized
    response = page.goto(path_of(web_site, SCREENS[name][0]))
    assert response is not None and response.status == 200
    page.wait_for_load_state("load")
    size = "phone" if page.viewport_size["width"] < 500 else "desktop"
    shot(page, f"screen-{name}-{size}")
    assert horizontal_overflow(page) <= 0, f"{name} scrolls sideways at {page.viewport_size}"
    assert_axe_clean(page, f"{name} ({size})")
    if name == "inbox":  # every message row is on screen, with its caller, status and time readable
        for row in page.locator("tr[data-message-id]").all():
            box = row.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"] + 1
            assert row.locator("[data-testid=caller]").is_visible()


@pytest.mark.parametrize("sized", [pytest.param((size, True), id=size) for size in SIZES], indirect=True)
def test_a_faked_colleague_is_visibly_an_outside_caller(sized: Any, web_site: WebSite) -> None:
    page = sized
    page.goto("/")
    fake = page.locator(f"tr[data-message-id='{web_site.messages['spoof'].id}']")
    real = page.locator(f"tr[data-message-id='{web_site.messages['long'].id}']")
    fake_text, real_text = fake.inner_text(), real.inner_text()
    assert "Caller says “Bob Internal” (1002)" in fake_text and "Outside · not verified" in fake_text
    assert "Bob Internal (1002)" not in fake_text
    assert "Alice Internal (1001)" in real_text and "Internal · verified by the directory" in real_text
    assert fake.locator("[data-testid=caller-badge]").is_visible()
    assert real.locator("[data-testid=caller-badge]").is_visible()
    page.goto(web_site.player_url("spoof"))
    assert page.locator("h1").inner_text().strip() == "Message from an outside caller"
    caller = page.locator("dd[data-testid=caller]")
    assert caller.is_visible() and "Outside · not verified" in caller.inner_text()


def test_a_link_to_a_message_survives_sign_in(page: Any, web_site: WebSite) -> None:
    target = web_site.player_url("keyboard")
    page.goto(target)
    page.wait_for_url("**/signin?next=**")
    page.locator("#username").fill(web_site.username)
    page.locator("#password").fill(web_site.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(target)
    assert page.locator("h1").inner_text().startswith("Message from")


def plays_of(web: WebSite, message_id: str) -> list[dict[str, Any]]:
    engine = make_engine(web.site.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(audit_events.c.details).where(
                audit_events.c.message_id == message_id, audit_events.c.action == "audio.play")).all()
    finally:
        engine.dispose()
    return [json.loads(r.details) for r in rows]


def test_opening_is_not_a_play_and_listening_to_the_end_marks_read(signed_in_page: Any, web_site: WebSite) -> None:
    page = signed_in_page
    left = web_site.messages["spoof"]
    media: list[str] = []
    page.on("request", lambda r: media.append(r.url) if "/audio" in r.url else None)
    before = len(plays_of(web_site, left.id))
    page.goto(web_site.player_url("spoof"))
    unread = int(page.title().split(" new)")[0].lstrip("("))
    page.wait_for_load_state("networkidle")
    time.sleep(0.5)  # the page is idle: nothing more would be fetched on its own
    assert media == [], f"opening the message fetched the audio: {media}"
    assert len(plays_of(web_site, left.id)) == before, "opening the message was audited as a play"
    assert web_site.spool_folder("spoof") == "INBOX"

    player = page.locator("#player")
    box = player.bounding_box()
    assert box is not None
    player.click(position={"x": 20, "y": box["height"] / 2})  # the play button of the native controls
    wait_for(lambda: len(plays_of(web_site, left.id)) > before, 10, "the play in the audit trail")
    wait_for(lambda: bool(page.evaluate("() => document.getElementById('player').ended")), 15,
             "the message played to the end")
    wait_for(lambda: page.locator("#message-status").inner_text().strip() == "Old", 10, "status Old on the page")
    wait_for(lambda: web_site.spool_folder("spoof") == "Old", 10, "the message moved to Old on Asterisk")
    assert "marked as read" in page.locator("#player-status").inner_text()
    assert page.get_by_role("button", name="Mark as unread", exact=True).is_visible()
    assert page.title().startswith(f"({unread - 1} new) ") if unread > 1 else not page.title().startswith("(")
    shot(page, "screen-message-listened")


def test_a_new_message_is_announced_without_a_reload(signed_in_page: Any, web_site: WebSite) -> None:
    page = signed_in_page
    page.goto("/")
    count_before = page.title()
    rows_before = page.locator("tr[data-message-id]").count()
    standin = web_site.site.standin
    assert standin is not None
    msg_id = standin.leave_message(OWNER_MAILBOX, '"Carol Internal" <1003>', caller_context="vm-internal",
                                   audio=make_wav(1.0, seed=4100))
    assert msg_id is not None
    show = page.locator("[data-testid=show-new]")
    show.wait_for(state="visible", timeout=30_000)  # sealed by the pipeline, then seen by the 1 s check
    assert "New messages arrived" in page.locator("#new-messages").inner_text()
    assert page.title() != count_before and page.title().startswith("(")
    shot(page, "screen-inbox-new-arrived")
    show.click()
    page.wait_for_load_state()
    assert page.locator("tr[data-message-id]").count() == rows_before + 1
