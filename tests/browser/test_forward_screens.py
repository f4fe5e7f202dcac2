"""Forwarding a message in Chromium on a desktop (1280×800) and a phone (390×844), by keyboard: the Forward
action on the message page, a refused mailbox explained on the form, the forward done with a comment, and the
recipient's message page naming who forwarded it with their comment, escaped (screenshots screen-forward-*,
axe-core on each page)."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.axe import assert_axe_clean
from tests.browser.conftest import OTHER_MAILBOX, OWNER_MAILBOX, WebSite, shot, signed_in_screen
from tests.browser.test_inbox_screens import SIZES, horizontal_overflow
from tests.integration.pipeline.harness import VOICEMAIL
from voicemail.domain.models import MailboxRef
from voicemail.spool.envelope import parse_envelope
from voicemail.spool.placeholder import is_placeholder_bytes

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]

COMMENT = "Can you take this one? <script>alert(1)</script>"


@pytest.fixture(params=list(SIZES))
def screen(request: pytest.FixtureRequest, browser: Any, web_site: WebSite,
           signed_in_state: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    with signed_in_screen(browser, web_site, signed_in_state, SIZES[request.param]) as page:
        yield request.param, page


def recipient_password(web_site: WebSite) -> tuple[str, str]:
    """An owner account for the other mailbox (made once), to see the forwarded message as its recipient."""
    username, password = "carol.recipient", getattr(web_site, "_carol_password", "")
    if not password:
        password = secrets.token_urlsafe(18)
        add = subprocess.run([VOICEMAIL, "accounts", "add", username, "--role", "owner", "--mailbox", OTHER_MAILBOX,
                              "--number", "2001", "--password-stdin"], input=(password + "\n").encode(),
                             env=web_site.site.env(), capture_output=True, timeout=60)
        assert add.returncode == 0, f"voicemail accounts add failed: {add.stdout!r} {add.stderr!r}"
        object.__setattr__(web_site, "_carol_password", password)
    return username, password


def spool_copy(web_site: WebSite, msg_id: str) -> list[tuple[str, bytes]]:
    """(format, content) of each audio file of the recipient's spool entry with ``msg_id``."""
    ref = MailboxRef.parse(OTHER_MAILBOX)
    box = web_site.site.spool / ref.context / ref.mailbox
    for txt in box.glob("*/msg*.txt"):
        if parse_envelope(txt.read_bytes()).msg_id == msg_id:
            return [(p.suffix[1:], p.read_bytes()) for p in txt.parent.glob(txt.stem + ".*") if p.suffix != ".txt"]
    return []


def test_owner_forwards_a_message_with_a_comment_by_keyboard(screen: tuple[str, Any], web_site: WebSite,
                                                              browser: Any) -> None:
    size, page = screen
    left = web_site.leave(f"forward-{size}", OWNER_MAILBOX, '"Alice Internal" <1001>', "vm-internal", 1.5,
                          820 if size == "desktop" else 830)
    page.goto(f"/messages/{left.id}")
    forward = page.get_by_role("button", name="Forward")
    forward.focus()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Forward this message").wait_for()
    page.get_by_label("Mailbox to forward to").focus()
    page.keyboard.type("7777")
    page.keyboard.press("Enter")
    page.get_by_role("alert").filter(has_text="There is no mailbox 7777.").wait_for()
    assert page.get_by_label("Mailbox to forward to").get_attribute("aria-invalid") == "true"
    assert horizontal_overflow(page) == 0
    shot(page, f"screen-forward-refused-{size}")
    assert_axe_clean(page, f"forward form with an error ({size})")

    page.get_by_label("Mailbox to forward to").fill("")
    page.get_by_label("Mailbox to forward to").focus()
    page.keyboard.type("2001")
    page.keyboard.press("Tab")
    page.keyboard.type(COMMENT)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the Forward button
    page.get_by_role("status").filter(has_text="Message forwarded to mailbox 2001.").wait_for()
    assert horizontal_overflow(page) == 0
    shot(page, f"screen-forward-done-{size}")
    assert_axe_clean(page, f"message page after forwarding ({size})")

    with web_site.site.store() as store:
        copy = store.find(MailboxRef.parse(OTHER_MAILBOX), left.msg_id)
    assert copy is not None and copy.state == "stripped"
    files = spool_copy(web_site, left.msg_id)
    assert files and all(is_placeholder_bytes(fmt, data) for fmt, data in files)  # Asterisk copied silence

    if size != "desktop":
        return
    username, password = recipient_password(web_site)
    ctx = browser.new_context(base_url=web_site.base_url, viewport=SIZES[size], bypass_csp=True)
    ctx.set_default_timeout(15_000)
    try:
        theirs = ctx.new_page()
        theirs.goto("/signin")
        theirs.locator("#username").fill(username)
        theirs.locator("#password").fill(password)
        theirs.get_by_role("button", name="Sign in").click()
        theirs.wait_for_url(lambda url: "/signin" not in url)
        theirs.goto("/")
        row = theirs.locator(f'tr[data-message-id="{copy.id}"]')
        assert "Forwarded to you" in row.inner_text()
        theirs.goto(f"/messages/{copy.id}")
        assert theirs.get_by_test_id("forwarded-by").inner_text().startswith("Bob Internal (1002)")
        assert theirs.get_by_test_id("forward-comment").inner_text() == COMMENT  # shown as text, not markup
        assert theirs.get_by_test_id("caller").inner_text().startswith("Alice Internal")
        shot(theirs, f"screen-forward-received-{size}")
        assert_axe_clean(theirs, f"forwarded message as its recipient sees it ({size})")
        audio = theirs.request.get(f"/api/v1/messages/{copy.id}/download")
        assert audio.status == 200 and len(audio.body()) > 10_000  # the caller's 1.5 s, not the placeholder
    finally:
        ctx.close()
