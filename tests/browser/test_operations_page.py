"""The operations page in Chromium, as an administrator of the browser tests' site: what it shows, a
screenshot on a desktop (1280×800) and a phone (390×844) screen, and axe-core (WCAG 2.1 AA, Section 508)."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.axe import axe_violations
from tests.browser.conftest import ARTIFACTS, EXTERNAL_NUMBER, WebSite, shot
from tests.browser.test_accessibility import FAILING_IMPACTS, FOCUS_JS, _describe
from tests.integration.pipeline.harness import VOICEMAIL

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]
ADMIN = "ops.admin"
SCREENS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def admin_password(web_site: WebSite) -> str:
    password = secrets.token_urlsafe(18)
    add = subprocess.run([VOICEMAIL, "accounts", "add", ADMIN, "--role", "administrator", "--password-stdin"],
                         input=(password + "\n").encode(), env=web_site.site.env(), capture_output=True, timeout=60)
    assert add.returncode == 0, f"voicemail accounts add failed: {add.stdout!r} {add.stderr!r}"
    return password


@pytest.fixture(params=list(SCREENS))
def admin_page(request: pytest.FixtureRequest, browser: Any, web_site: WebSite, admin_password: str
               ) -> Iterator[tuple[str, Any]]:
    ctx = browser.new_context(base_url=web_site.base_url, viewport=SCREENS[request.param],
                              bypass_csp=True)  # lets axe be injected as a script; axe does not check CSP
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    page.goto("/signin")
    page.locator("#username").fill(ADMIN)
    page.locator("#password").fill(admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/signin" not in url)
    try:
        yield request.param, page
    finally:
        ctx.close()


def test_operations_page_reads_at_a_glance_and_passes_axe(admin_page: tuple[str, Any], web_site: WebSite) -> None:
    screen, page = admin_page
    page.get_by_role("link", name="Operations").click()
    page.wait_for_url("**/operations")
    page.wait_for_load_state("load")
    assert page.get_by_role("heading", name="Operations", level=1).is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"operations-{screen}-first-screen.png"))  # what is seen at a glance
    for card in ("Phone system (AMI)", "Task broker", "Custody queue", "Dead letters", "Last reconciliation"):
        assert page.get_by_role("heading", name=card).is_visible(), card
    assert page.get_by_test_id("custody-figure").inner_text() == "0"  # the site's messages are all stripped
    charts = page.get_by_role("img")
    assert charts.count() == 2
    assert page.locator("[data-testid=chart-messages] rect").count() >= 1  # this hour's messages drawn
    text = page.locator("main").inner_text()
    assert EXTERNAL_NUMBER not in text and EXTERNAL_NUMBER[-7:] not in text
    # the figures are also a table for screen readers and keyboard users
    page.get_by_text("The same figures as a table").click()
    assert page.locator("details.ops-table table tbody tr").count() == 24
    shot(page, f"operations-{screen}")
    page.get_by_test_id("chart-latency").screenshot(path=str(ARTIFACTS / f"operations-{screen}-latency.png"))
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= SCREENS[screen]["width"], f"{screen}: the page scrolls sideways ({width} px)"

    violations = axe_violations(page)
    failing = [v for v in violations if v.get("impact") in FAILING_IMPACTS]
    minor = [v for v in violations if v.get("impact") not in FAILING_IMPACTS]
    if minor:
        print(f"operations ({screen}): minor/moderate axe findings (not failing):\n{_describe(minor)}")
    assert not failing, f"operations ({screen}): serious/critical axe violations:\n{_describe(failing)}"


def test_keyboard_focus_is_visible_on_the_operations_page(admin_page: tuple[str, Any]) -> None:
    screen, page = admin_page
    page.goto("/operations")
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(40):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_JS)
        if focus is None or focus["name"] in seen:
            break
        seen[focus["name"]] = focus
    assert len(seen) >= 5, f"{screen}: only {list(seen)} reachable with Tab"
    bad = [f for f in seen.values() if f["style"] == "none" or f["width"] < 2 or f["ratio"] < 3.0]
    assert not bad, f"{screen}: focus not visible enough: " + "; ".join(
        f"{f['name']}: {f['style']} {f['width']}px {f['ratio']:.2f}:1" for f in bad)


def test_operations_page_is_not_for_owners(signed_in_page: Any) -> None:
    response = signed_in_page.goto("/operations")
    assert response is not None and response.status == 404
    assert signed_in_page.get_by_role("link", name="Operations").count() == 0
