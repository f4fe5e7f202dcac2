"""Several messages at once in Chromium on a desktop (1280×800) and a phone (390×844): tick two, mark
them read, then delete them after the confirmation page (screenshots screen-bulk-*-<size>.png, axe-core)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.axe import assert_axe_clean
from tests.browser.conftest import OWNER_MAILBOX, WebSite, shot, signed_in_screen
from tests.browser.test_inbox_screens import SIZES, horizontal_overflow

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(params=list(SIZES))
def screen(request: pytest.FixtureRequest, browser: Any, web_site: WebSite,
           signed_in_state: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    with signed_in_screen(browser, web_site, signed_in_state, SIZES[request.param]) as page:
        yield request.param, page


def test_owner_marks_and_deletes_several_messages(screen: tuple[str, Any], web_site: WebSite) -> None:
    size, page = screen
    seed = 700 if size == "desktop" else 710
    first = web_site.leave(f"bulk-a-{size}", OWNER_MAILBOX, '"Alice Internal" <1001>', "vm-internal", 1.0, seed)
    second = web_site.leave(f"bulk-b-{size}", OWNER_MAILBOX, None, "vm-from-trunk", 1.0, seed + 1)
    page.goto("/?folder=INBOX")
    for left in (first, second):
        page.locator(f'tr[data-message-id="{left.id}"]').get_by_role("checkbox").check()
    assert horizontal_overflow(page) == 0
    shot(page, f"screen-bulk-selected-{size}")
    assert_axe_clean(page, f"inbox with a selection ({size})")
    page.get_by_role("button", name="Mark selected as read").click()
    page.get_by_role("status").filter(has_text="2 messages marked as read.").wait_for()
    assert "folder=INBOX" in page.url
    assert page.locator(f'tr[data-message-id="{first.id}"]').count() == 0  # no longer new

    page.goto("/?folder=Old")
    for left in (first, second):
        page.locator(f'tr[data-message-id="{left.id}"]').get_by_role("checkbox").check()
    page.get_by_role("button", name="Delete selected").click()
    page.get_by_role("heading", name="Delete 2 messages?").wait_for()
    assert horizontal_overflow(page) == 0
    shot(page, f"screen-bulk-confirm-delete-{size}")
    assert_axe_clean(page, f"confirm deleting several ({size})")
    page.get_by_role("button", name="Delete 2 messages").click()
    page.get_by_role("status").filter(has_text="2 messages deleted.").wait_for()
    assert web_site.spool_folder(f"bulk-a-{size}") is None and web_site.spool_folder(f"bulk-b-{size}") is None
