"""Downloading a message in Chromium on a desktop (1280×800) and a phone (390×844): the link on the
message page saves a WAV file of the whole recording (screenshots screen-download-<size>.png, axe-core)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.axe import assert_axe_clean
from tests.browser.conftest import WebSite, require_playback, shot, signed_in_screen
from tests.browser.test_inbox_screens import SIZES, horizontal_overflow

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(params=list(SIZES))
def screen(request: pytest.FixtureRequest, browser: Any, web_site: WebSite,
           signed_in_state: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    with signed_in_screen(browser, web_site, signed_in_state, SIZES[request.param], timeout_ms=20_000,
                          accept_downloads=True) as page:
        yield request.param, page


def test_owner_downloads_a_message_as_a_wav_file(screen: tuple[str, Any], web_site: WebSite,
                                                 tmp_path: Path) -> None:
    require_playback()
    size, page = screen
    page.goto(web_site.player_url("external"))
    link = page.get_by_role("link", name="Download the recording (WAV)")
    assert link.is_visible()
    assert horizontal_overflow(page) == 0
    shot(page, f"screen-download-{size}")
    assert_axe_clean(page, f"message page with download ({size})")
    with page.expect_download() as waiting:
        link.click()
    download = waiting.value
    assert download.suggested_filename.startswith("voicemail-") and download.suggested_filename.endswith(".wav")
    assert "2025550123" not in download.suggested_filename
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    data = saved.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    seconds = web_site.messages["external"].seconds
    assert len(data) > seconds * 8000  # the whole recording (at least 8 kHz, 8 bits), not a range of it
