"""Searching the inbox in Chromium on a desktop (1280×800) and a phone (390×844): by a caller's name, by
an outside caller's number typed with spaces, and by dates; a reversed date range is explained. Each
screen fits without sideways scrolling and passes axe-core (screenshots screen-search-*-<size>.png)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.axe import assert_axe_clean
from tests.browser.conftest import WebSite, shot, signed_in_screen
from tests.browser.test_inbox_screens import SIZES, horizontal_overflow

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(params=list(SIZES))
def screen(request: pytest.FixtureRequest, browser: Any, web_site: WebSite,
           signed_in_state: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    with signed_in_screen(browser, web_site, signed_in_state, SIZES[request.param]) as page:
        yield request.param, page


def shown_ids(page: Any) -> set[str]:
    return set(page.locator("tr[data-message-id]").evaluate_all("rows => rows.map(r => r.dataset.messageId)"))


def test_owner_searches_by_caller_name_and_number(screen: tuple[str, Any], web_site: WebSite) -> None:
    size, page = screen
    page.goto("/")
    page.get_by_label("Caller name or number").fill("alice")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**who=alice**")
    found = shown_ids(page)
    assert web_site.messages["long"].id in found and web_site.messages["external"].id not in found
    assert page.get_by_label("Caller name or number").input_value() == "alice"
    assert horizontal_overflow(page) == 0
    shot(page, f"screen-search-caller-{size}")
    assert_axe_clean(page, f"inbox search by caller ({size})")

    page.get_by_label("Caller name or number").fill("202 555 0123")  # the outside caller's, with spaces
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**who=202**")
    assert shown_ids(page) == {web_site.messages["external"].id}
    page.get_by_role("link", name="Clear search").click()
    page.wait_for_load_state("load")
    assert "who=" not in page.url and page.get_by_label("Caller name or number").input_value() == ""


def test_owner_searches_by_date_and_a_reversed_range_is_explained(screen: tuple[str, Any],
                                                                    web_site: WebSite) -> None:
    size, page = screen
    page.goto("/?from=2000-01-01&to=2000-01-31")
    assert page.locator("#no-messages").inner_text() == "No messages match your search."
    page.goto("/?from=2000-01-01")
    assert web_site.messages["long"].id in shown_ids(page)
    page.get_by_label("Received from", exact=True).fill("2026-02-02")
    page.get_by_label("Received to", exact=True).fill("2026-02-01")
    page.get_by_role("button", name="Apply").click()
    alert = page.get_by_role("alert")
    assert alert.inner_text() == "The 'from' date is after the 'to' date."
    assert page.get_by_label("Received from", exact=True).get_attribute("aria-describedby") == "search-error"
    assert shown_ids(page) == set()
    assert horizontal_overflow(page) == 0
    shot(page, f"screen-search-dates-error-{size}")
    assert_axe_clean(page, f"inbox search, reversed dates ({size})")
