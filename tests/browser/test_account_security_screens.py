"""The settings page's own-account security in Chromium on a desktop (1280×800) and a phone (390×844):
changing one's password (another browser of the same person is signed out). Each test signs in with an
account of its own (made with `voicemail accounts add`), so the shared session of the other tests stays.
Screenshots screen-password-*-<size>.png; axe-core on each screen."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest

from tests.browser.axe import assert_axe_clean
from tests.browser.conftest import WebSite, shot
from tests.browser.test_inbox_screens import SIZES, horizontal_overflow
from tests.integration.pipeline.harness import VOICEMAIL

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]


def add_account(web: WebSite, name: str) -> str:
    password = secrets.token_urlsafe(18)
    add = subprocess.run([VOICEMAIL, "accounts", "add", name, "--role", "owner", "--mailbox", "2001@default",
                          "--password-stdin"], input=(password + "\n").encode(), env=web.site.env(),
                         capture_output=True, timeout=60)
    assert add.returncode == 0, f"voicemail accounts add failed: {add.stdout!r} {add.stderr!r}"
    return password


def signed_in_context(browser: Any, web: WebSite, size: str, name: str, password: str) -> Any:
    ctx = browser.new_context(base_url=web.base_url, viewport=SIZES[size], bypass_csp=True)
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    page.goto("/signin")
    page.locator("#username").fill(name)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/signin" not in url)
    return ctx


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


def test_owner_changes_their_password_and_is_signed_out_elsewhere(browser: Any, web_site: WebSite,
                                                                  size: str) -> None:
    name = f"pw.owner.{size}"
    password = add_account(web_site, name)
    here = signed_in_context(browser, web_site, size, name, password)
    elsewhere = signed_in_context(browser, web_site, size, name, password)
    try:
        page = here.pages[0]
        page.goto("/settings")
        page.get_by_label("Current password").fill("not the password")
        page.get_by_label("New password", exact=True).fill("a new passphrase for me")
        page.get_by_label("New password again").fill("a new passphrase for me")
        page.get_by_role("button", name="Change password").click()
        assert page.locator("#password-error").inner_text() == "Your current password is not right."
        assert horizontal_overflow(page) == 0
        shot(page, f"screen-password-refused-{size}")
        assert_axe_clean(page, f"settings, password refused ({size})")
        page.get_by_label("Current password").fill(password)
        page.get_by_label("New password", exact=True).fill("a new passphrase for me")
        page.get_by_label("New password again").fill("a new passphrase for me")
        page.get_by_role("button", name="Change password").click()
        page.get_by_role("status").filter(has_text="Password changed.").wait_for()
        shot(page, f"screen-password-changed-{size}")
        other = elsewhere.pages[0]
        other.goto("/settings")
        assert "/signin" in other.url  # the other browser's session has ended
    finally:
        here.close()
        elsewhere.close()


def test_owner_sets_up_two_step_sign_in_from_the_qr_page(browser: Any, web_site: WebSite, size: str) -> None:
    """The order: the current password first (a wrong one shows no secret), then the QR code, then the code."""
    name = f"totp.owner.{size}"
    password = add_account(web_site, name)
    ctx = signed_in_context(browser, web_site, size, name, password)
    try:
        page = ctx.pages[0]
        page.goto("/settings")
        page.get_by_role("link", name="set it up").click()
        page.get_by_role("heading", name="Step 1 of 3: confirm your password").wait_for()
        assert page.get_by_test_id("totp-qr").count() == 0 and page.get_by_test_id("totp-secret").count() == 0
        assert_axe_clean(page, f"two-step set-up, password first ({size})")
        page.get_by_label("Your password").fill("not my password")
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("alert").filter(has_text="Your current password is not right.").wait_for()
        assert page.get_by_test_id("totp-qr").count() == 0 and page.get_by_test_id("totp-secret").count() == 0
        shot(page, f"screen-two-step-password-refused-{size}")
        page.get_by_label("Your password").fill(password)
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("heading", name="Step 2 of 3: scan this code with the app").wait_for()
        assert page.get_by_label("Your password").count() == 0  # asked already
        qr = page.get_by_test_id("totp-qr").locator("svg")
        box = qr.bounding_box()
        assert box is not None and box["width"] >= 150 and box["x"] + box["width"] <= SIZES[size]["width"]
        assert horizontal_overflow(page) == 0
        shot(page, f"screen-two-step-{size}")
        assert_axe_clean(page, f"two-step set-up ({size})")
        secret = page.get_by_test_id("totp-secret").inner_text()
        page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Turn on two-step sign-in").click()
        page.get_by_role("status").filter(has_text="Two-step sign-in is on.").wait_for()
        assert page.locator(".details").get_by_text("On").count() >= 1
    finally:
        ctx.close()


def test_owner_picks_a_time_zone_and_the_call_history_follows(browser: Any, web_site: WebSite, size: str) -> None:
    name = f"tz.owner.{size}"
    password = add_account(web_site, name)
    ctx = signed_in_context(browser, web_site, size, name, password)
    try:
        page = ctx.pages[0]
        page.goto("/settings")
        picker = page.get_by_label("Time zone")
        assert picker.evaluate("el => el.tagName") == "SELECT"
        picker.select_option("Asia/Tokyo")
        page.get_by_role("button", name="Save settings").click()
        page.get_by_role("status").filter(has_text="Settings saved.").wait_for()
        assert page.get_by_label("Time zone").input_value() == "Asia/Tokyo"
        assert horizontal_overflow(page) == 0
        shot(page, f"screen-settings-time-zone-{size}")
        assert_axe_clean(page, f"settings with the zone picker ({size})")
        page.get_by_role("link", name="Call history").click()
        page.get_by_role("heading", name="Call history").wait_for()
        assert "times in Asia/Tokyo" in page.content() or page.get_by_text("No calls.").is_visible()
        assert page.locator("td", has_text="play").count() == 0
        shot(page, f"screen-calls-time-zone-{size}")
        assert_axe_clean(page, f"call history ({size})")
    finally:
        ctx.close()
