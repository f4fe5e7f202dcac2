"""Play on my phone in Chromium, for each Originate outcome of capture q11: a `voicemail web` whose device
template is one of the stand-in's phonesim phones; the page's status line ends with the plain words for
that outcome (screenshots 09-*)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import AXE_JS, WebSite, _healthy, free_port, shot, sign_in
from tests.integration.pipeline.harness import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]

OUTCOMES = [
    ("answer", "The message was played on your phone."),
    ("noanswer", "Your phone did not answer."),
    ("busy", "Your phone is busy."),
    ("congestion", "The phone system could not reach your phone (network busy). Try again later."),
    ("nosuchphone", "Your phone could not be called. Ask your administrator to check its set-up."),
]


@pytest.fixture(params=OUTCOMES, ids=[o[0] for o in OUTCOMES])
def phone_web(request: pytest.FixtureRequest, web_site: WebSite) -> Iterator[tuple[str, str, str]]:
    """(phonesim phone, expected words, base URL of a `voicemail web` ringing that phone)."""
    phone, words = request.param
    port = free_port()
    proc = web_site.site.spawn("web", log=f"web-{phone}", VOICEMAIL_WEB_HOST="127.0.0.1",
                               VOICEMAIL_WEB_PORT=str(port), VOICEMAIL_PHONE_RING_TIMEOUT="3",
                               VOICEMAIL_PHONE_DEVICE_TEMPLATE=f"Local/{phone}@phonesim/n",
                               VOICEMAIL_PHONE_STAGING_DIR=str(web_site.site.root / "staging"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(base + "/healthz"), 60, f"voicemail web for {phone}")
        yield phone, words, base
    finally:
        proc.terminate()
        proc.wait(10)


def test_each_outcome_is_told_on_the_page(browser: Any, web_site: WebSite, phone_web: tuple[str, str, str]) -> None:
    phone, words, base = phone_web
    ctx = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900}, bypass_csp=True)  # axe
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        sign_in(page, web_site)
        page.goto(f"/messages/{web_site.messages['keyboard'].id}")  # on this outcome's web process
        button = page.get_by_role("button", name="Play on my phone", exact=True)
        if phone == "answer":
            shot(page, "09-play-on-phone-button")
        button.click()
        page.wait_for_load_state()
        status = page.locator("[role=status]")
        status.filter(has_text=words).wait_for(timeout=30_000)
        assert status.inner_text() == words
        assert page.locator("#call-check").is_hidden()
        shot(page, f"09-play-on-phone-{phone}")
        page.add_script_tag(path=str(AXE_JS))
        result = page.evaluate(
            "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});"
            " return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')"
            ".map(v => v.id); }", ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "section508"])
        assert result == [], f"serious/critical axe violations on the outcome page: {result}"
        wait_for(lambda: web_site.staging_files == [], 20, "the staging file removed")
    finally:
        ctx.close()
