"""ViewMail for Outlook: the task pane in Chromium with Microsoft's Office.js test double (office-addin-mock)
in place of Office.js, on a notification e-mail carrying the X-Voicemail-Id header, against the real site.

The pane signs in through its dialog (SSO is unavailable in the double unless a test gives a token), then
plays, seeks, changes speed, marks read / unread, deletes, starts "Play on my phone" only where it is set
up, and links to the web inbox. What it shows of an outside caller is what the signed-in person may see.
Screenshots at a task-pane width (350 px) go to tests/browser/artifacts/outlook-*.png.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from joserfc import jwt
from sqlalchemy import Table, insert, select

from tests.browser.conftest import (
    AXE_JS,
    EXTERNAL_NUMBER,
    OWNER_MAILBOX,
    WebSite,
    _healthy,
    free_port,
    require_playback,
    shot,
)
from tests.browser.office_double import OFFICE_JS_URL, office_config, office_js
from tests.integration.pipeline.harness import VOICEMAIL, wait_for
from tests.integration.web.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider
from voicemail.db.engine import make_engine
from voicemail.db.models import MessageRow, NotificationRow
from voicemail.domain.models import MailboxRef

messages = cast(Table, MessageRow.__table__)

PANE_WIDTH = 350
ADMIN = "carol.admin"
ADMIN_PASSWORD = "admin-" + "x7Qp2mZr9LwT4vNc"
BRANCH_OWNER = "dora.branch"
BRANCH_PASSWORD = "branch-" + "Vt8kQ2nW5xLr3pZa"


def notification_id(web: WebSite, key: str) -> str:
    engine = make_engine(web.site.database_url)
    try:
        with engine.connect() as conn:
            found = conn.execute(select(NotificationRow.id).where(
                NotificationRow.message_id == web.messages[key].id)).scalar_one()
    finally:
        engine.dispose()
    return str(found)


@pytest.fixture(scope="module")
def admin(web_site: WebSite) -> str:
    done = subprocess.run([VOICEMAIL, "accounts", "add", ADMIN, "--role", "administrator", "--password-stdin"],
                          input=(ADMIN_PASSWORD + "\n").encode(), env=web_site.site.env(), capture_output=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return ADMIN


def pane_context(browser: Any, base_url: str, config: str) -> Any:
    ctx = browser.new_context(base_url=base_url, viewport={"width": PANE_WIDTH, "height": 640})
    ctx.set_default_timeout(15_000)
    ctx.route(OFFICE_JS_URL, lambda route: route.fulfill(status=200, content_type="text/javascript",
                                                         body=office_js()))
    ctx.add_init_script(config)
    return ctx


def open_pane(ctx: Any, username: str, password: str) -> Any:
    """The task pane, signed in through its dialog (the normal password sign-in)."""
    page = ctx.new_page()
    page.goto("/outlook/taskpane")
    with page.expect_popup() as popup_info:
        page.get_by_role("button", name="Sign in").click()
    dialog = popup_info.value
    dialog.locator("#username").fill(username)
    dialog.locator("#password").fill(password)
    dialog.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("caller").wait_for()
    return page


def axe_violations(page: Any) -> list[str]:
    page.evaluate(AXE_JS.read_text(encoding="utf-8"))  # evaluated by the driver: the page's CSP stays on
    found: list[str] = page.evaluate(
        "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});"
        " return r.violations.map(v => v.id + ' (' + v.impact + ')'); }",
        ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "section508"])
    return found


@contextmanager
def pane_on(browser: Any, web: WebSite, key: str) -> Iterator[Any]:
    """The owner's pane on message ``key``, found by the notification e-mail's X-Voicemail-Id header."""
    ctx = pane_context(browser, web.base_url, office_config(headers={"X-Voicemail-Id": notification_id(web, key)}))
    try:
        yield open_pane(ctx, web.username, web.password)
    finally:
        ctx.close()


def test_the_pane_plays_seeks_and_changes_speed_keeping_only_the_speed_in_roaming_settings(
        browser: Any, web_site: WebSite) -> None:
    require_playback()
    with pane_on(browser, web_site, "long") as page:
        played_in_pane(page)


def played_in_pane(page: Any) -> None:
    assert "Alice Internal (1001)" in page.get_by_test_id("caller").inner_text()
    page.get_by_test_id("speed").select_option("1.5")
    page.get_by_test_id("forward").click()
    page.wait_for_function("() => document.getElementById('audio').currentTime >= 4.9")
    assert page.evaluate("document.getElementById('audio').playbackRate") == 1.5
    page.get_by_test_id("back").click()
    page.wait_for_function("() => document.getElementById('audio').currentTime < 1")
    page.evaluate("document.getElementById('audio').play()")
    page.wait_for_function("() => document.getElementById('audio').currentTime > 0.5")
    assert page.evaluate("window.__vmRoaming") == {"playbackSpeed": "1.5"}
    assert page.evaluate("document.getElementById('audio').src").startswith("blob:")
    shot(page, "outlook-pane-playing")


def test_the_pane_marks_read_and_unread_and_deletes_through_the_api(browser: Any, web_site: WebSite) -> None:
    mid = web_site.leave("outlook", OWNER_MAILBOX, "+12025550177", "vm-from-trunk", 2.0, seed=7100).id
    with pane_on(browser, web_site, "outlook") as page:
        marked_and_deleted_in_pane(page, web_site, mid)


def marked_and_deleted_in_pane(page: Any, web_site: WebSite, mid: str) -> None:
    assert page.get_by_test_id("state").inner_text() == "New (unread)"
    assert page.get_by_test_id("site").is_hidden()  # one site: not named
    page.get_by_role("button", name="Mark as read").click()
    page.get_by_test_id("state").filter(has_text="Read").wait_for()
    wait_for(lambda: web_site.spool_folder("outlook") == "Old", 20, "the message moved to Old")
    page.get_by_role("button", name="Mark as unread").click()
    page.get_by_test_id("state").filter(has_text="New (unread)").wait_for()
    wait_for(lambda: web_site.spool_folder("outlook") == "INBOX", 20, "the message back in INBOX")
    assert page.get_by_role("link", name="Open in the web inbox").get_attribute("href") == f"/messages/{mid}"
    page.get_by_test_id("delete").click()
    page.get_by_test_id("delete").click()
    page.get_by_test_id("status").filter(has_text="deleted").wait_for()
    wait_for(lambda: web_site.spool_folder("outlook") is None, 20, "the message gone from the spool")


def test_the_pane_is_axe_clean_and_offers_play_on_my_phone_where_it_is_set_up(browser: Any,
                                                                             web_site: WebSite) -> None:
    with pane_on(browser, web_site, "long") as page:
        assert page.get_by_role("button", name="Play on my phone").is_visible()
        shot(page, "outlook-pane")
        assert axe_violations(page) == []


def test_without_play_on_my_phone_the_pane_does_not_offer_it(browser: Any, web_site: WebSite) -> None:
    port = free_port()
    proc = web_site.site.spawn("web", log="web-nophone", VOICEMAIL_WEB_HOST="127.0.0.1",
                               VOICEMAIL_WEB_PORT=str(port), VOICEMAIL_PHONE_DEVICE_TEMPLATE="")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(base + "/healthz"), 60, "voicemail web without play on phone")
        ctx = pane_context(browser, base, office_config(body=f"Listen: {base}/messages/"
                                                              f"{web_site.messages['keyboard'].id}"))
        try:
            page = open_pane(ctx, web_site.username, web_site.password)
            assert page.get_by_test_id("mark").is_visible()
            assert page.get_by_test_id("phone").is_hidden()
        finally:
            ctx.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_an_outside_callers_number_shows_only_to_whom_may_see_it(browser: Any, web_site: WebSite,
                                                                admin: str) -> None:
    config = office_config(headers={"X-Voicemail-Id": notification_id(web_site, "external")})
    ctx = pane_context(browser, web_site.base_url, config)
    try:
        page = open_pane(ctx, web_site.username, web_site.password)
        text = page.locator("main").inner_text()
        assert EXTERNAL_NUMBER in text and "Outside · not verified" in text  # the owner may see it
    finally:
        ctx.close()
    ctx = pane_context(browser, web_site.base_url, config)
    try:
        page = open_pane(ctx, admin, ADMIN_PASSWORD)  # a forwarded notification opened by an administrator
        text = page.locator("main").inner_text()
        assert "Outside caller" in text
        assert EXTERNAL_NUMBER[-7:] not in text
        assert page.get_by_test_id("audio").is_hidden() and page.get_by_test_id("delete").is_hidden()
        shot(page, "outlook-pane-outside-caller-withheld")
    finally:
        ctx.close()


def test_with_office_single_sign_on_the_pane_needs_no_dialog(browser: Any, web_site: WebSite) -> None:
    """SSO against a local OpenID provider: the double hands the pane an access token for our API, the
    server checks it against the provider's JWKS and maps its subject to the owner."""
    audience = f"api://127.0.0.1/{CLIENT_ID}"
    with OidcProvider() as idp:
        mapped = subprocess.run([VOICEMAIL, "accounts", "map-oidc", web_site.username, "--subject", "sso-bob",
                                 "--issuer", idp.issuer], env=web_site.site.env(), capture_output=True, timeout=60)
        assert mapped.returncode == 0, mapped.stderr
        port = free_port()
        proc = web_site.site.spawn("web", log="web-sso", VOICEMAIL_WEB_HOST="127.0.0.1",
                                   VOICEMAIL_WEB_PORT=str(port), VOICEMAIL_OIDC_ISSUER=idp.issuer,
                                   VOICEMAIL_OIDC_CLIENT_ID=CLIENT_ID, VOICEMAIL_OIDC_CLIENT_SECRET=CLIENT_SECRET,
                                   VOICEMAIL_OIDC_REDIRECT_URL=f"http://127.0.0.1:{port}/signin/oidc/callback",
                                   VOICEMAIL_OUTLOOK_SSO_AUDIENCE=audience)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _healthy(base + "/healthz"), 60, "voicemail web with Office SSO")
            now = int(time.time())
            token = jwt.encode({"alg": "RS256", "kid": idp.kid, "typ": "JWT"},
                               {"iss": idp.issuer, "aud": audience, "sub": "sso-bob", "iat": now, "nbf": now,
                                "exp": now + 600}, idp.key)
            ctx = pane_context(browser, base, office_config(
                headers={"X-Voicemail-Id": notification_id(web_site, "long")}, sso_token=token))
            try:
                page = ctx.new_page()
                page.goto("/outlook/taskpane")
                page.get_by_test_id("caller").wait_for()
                assert "Alice Internal (1001)" in page.get_by_test_id("caller").inner_text()
                assert page.get_by_test_id("signin").is_hidden()
            finally:
                ctx.close()
        finally:
            proc.terminate()
            proc.wait(10)


def test_the_signed_out_pane_and_its_sign_in_dialog_are_axe_clean(browser: Any, web_site: WebSite) -> None:
    ctx = pane_context(browser, web_site.base_url, office_config(body="no link here"))
    try:
        page = ctx.new_page()
        page.goto("/outlook/taskpane")
        page.get_by_role("button", name="Sign in").wait_for()
        assert axe_violations(page) == []
        shot(page, "outlook-pane-signed-out")
        with page.expect_popup() as popup_info:
            page.get_by_role("button", name="Sign in").click()
        dialog = popup_info.value
        dialog.locator("#username").wait_for()
        assert axe_violations(dialog) == []
        shot(dialog, "outlook-dialog")
    finally:
        ctx.close()


def test_the_pane_forwards_the_message_to_a_colleague(browser: Any, web_site: WebSite) -> None:
    left = web_site.leave("outlook-forward", OWNER_MAILBOX, '"Alice Internal" <1001>', "vm-internal", 1.0, 7200)
    with pane_on(browser, web_site, "outlook-forward") as page:
        page.get_by_text("Forward to a colleague", exact=True).click()
        page.get_by_label("Mailbox to forward to").fill("7777")
        page.get_by_role("button", name="Forward the message").click()
        page.get_by_test_id("status").filter(has_text="There is no mailbox 7777.").wait_for()
        page.get_by_label("Mailbox to forward to").fill("2001")
        page.get_by_label("Comment (optional)").fill("Sent on from Outlook")
        page.get_by_role("button", name="Forward the message").click()
        page.get_by_test_id("status").filter(has_text="Forwarded to mailbox 2001.").wait_for()
        shot(page, "outlook-pane-forwarded")
        assert axe_violations(page) == []
    with web_site.site.store() as store:
        copy = store.find(MailboxRef.parse("2001@default"), left.msg_id)
    assert copy is not None and copy.state == "stripped"


def branch_copy(web: WebSite, message_id: str) -> str:
    """The message's row again as if left in the same mailbox of a second Asterisk, site "branch" (metadata
    only: its recording is not meant to be played)."""
    engine = make_engine(web.site.database_url)
    new_id = str(uuid.uuid4())
    try:
        with engine.begin() as conn:
            row = conn.execute(select(messages).where(MessageRow.id == message_id)).mappings().one()
            conn.execute(insert(messages).values({**row, "id": new_id, "site": "branch",
                                                              "msg_id": row["msg_id"] + "-b"}))
    finally:
        engine.dispose()
    return new_id


def test_with_several_sites_the_pane_names_the_site_and_its_owner_acts_on_another_site(
        browser: Any, web_site: WebSite) -> None:
    """A second `voicemail web` that knows two sites: the pane shows each message's site, the owner of
    1002@default@branch gets the player and the buttons on its message, and a forward's status names the
    site it stayed on. The one-site web shows no site (test_the_pane_marks_read_...)."""
    left = web_site.leave("outlook-sites", OWNER_MAILBOX, '"Alice Internal" <1001>', "vm-internal", 1.0, 7300)
    there = branch_copy(web_site, left.id)
    two = {"VOICEMAIL_SITES": "branch"}
    added = subprocess.run([VOICEMAIL, "accounts", "add", BRANCH_OWNER, "--mailbox", "1002@default@branch",
                            "--password-stdin"], input=(BRANCH_PASSWORD + "\n").encode(),
                           env=web_site.site.env(**two), capture_output=True, timeout=60)
    assert added.returncode == 0, added.stderr
    port = free_port()
    proc = web_site.site.spawn("web", log="web-sites", VOICEMAIL_WEB_HOST="127.0.0.1", VOICEMAIL_WEB_PORT=str(port),
                               **two)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(base + "/healthz"), 60, "voicemail web with two sites")
        ctx = pane_context(browser, base, office_config(body=f"Listen: {base}/messages/{there}"))
        try:
            page = open_pane(ctx, BRANCH_OWNER, BRANCH_PASSWORD)
            assert page.get_by_test_id("site").inner_text() == "branch"
            assert page.get_by_test_id("mark").is_visible() and page.get_by_test_id("delete").is_visible()
            assert axe_violations(page) == []
        finally:
            ctx.close()
        ctx = pane_context(browser, base, office_config(body=f"Listen: {base}/messages/{left.id}"))
        try:
            page = open_pane(ctx, web_site.username, web_site.password)
            assert page.get_by_test_id("site").inner_text() == "default"
            page.get_by_text("Forward to a colleague", exact=True).click()
            page.get_by_label("Mailbox to forward to").fill("2001")
            page.get_by_role("button", name="Forward the message").click()
            page.get_by_test_id("status").filter(has_text="Forwarded to mailbox 2001 on site default.").wait_for()
        finally:
            ctx.close()
    finally:
        proc.terminate()
        proc.wait(10)
