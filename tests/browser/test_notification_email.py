"""The notification e-mail's HTML as a mail client shows it: rendered by Chromium to PNG on a desktop
(1280×800) and a phone (390×844) screen, its Listen button visible on the first screen, and axe-core clean."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mailer import MailSettings, NotificationFacts, compose
from tests.browser.axe import assert_axe_clean
from tests.browser.conftest import ARTIFACTS
from voicemail.domain.models import Caller, CallerKind

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCREENS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
OUTSIDE_NUMBER = "+12025550123"
CALLERS = {"internal": Caller(CallerKind.INTERNAL, name="Alice Internal", number="1001"),
           "outside": Caller(CallerKind.EXTERNAL, name="Mallory", number=OUTSIDE_NUMBER)}


def _html(caller: Caller) -> str:
    facts = NotificationFacts(
        notification_id="render-test-1", recipient="bob@example.test", recipient_name="Bob Owner",
        mailbox="1002@default", caller=caller, received_at=datetime(2026, 12, 4, 9, 30, tzinfo=UTC),
        duration_seconds=42, urgent=False, player_url="https://voicemail.example.org/messages/abc-123",
        owner_timezone="Europe/Berlin", new_count=3, play_on_phone=True)
    return compose(facts, MailSettings(sender="voicemail@example.org", site_name="Example Voicemail")).html


@pytest.mark.parametrize("screen", list(SCREENS))
@pytest.mark.parametrize("who", list(CALLERS))
def test_notification_email_renders_with_a_visible_listen_button(browser: Any, screen: str, who: str) -> None:
    # the package's one Chromium: a second Playwright in the same thread is refused
    ctx = browser.new_context(viewport=SCREENS[screen], java_script_enabled=True)
    try:
        page = ctx.new_page()
        page.set_content(_html(CALLERS[who]))
        listen = page.get_by_role("link", name="Listen", exact=True)
        box = listen.bounding_box()
        assert box is not None and box["y"] + box["height"] <= SCREENS[screen]["height"], "Listen below the fold"
        assert box["height"] >= 40 and box["width"] >= 80, f"Listen button too small to tap: {box}"
        assert listen.get_attribute("href") == "https://voicemail.example.org/messages/abc-123"
        assert page.get_by_text("You have 3 new messages.").is_visible()
        call_back = page.get_by_role("link", name="Call back")
        if who == "internal":
            assert call_back.get_attribute("href") == "tel:1001"
        else:
            assert call_back.count() == 0
            assert OUTSIDE_NUMBER.lstrip("+") not in page.content()
        assert page.evaluate("document.documentElement.scrollWidth") <= SCREENS[screen]["width"], "scrolls sideways"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"email-{who}-{screen}.png"), full_page=True)
        assert_axe_clean(page, f"notification e-mail ({who}, {screen})")
    finally:
        ctx.close()
