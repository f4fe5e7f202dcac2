"""The web inbox in a real Chromium against the real system: sign in, listen, seek, mark read, delete,
sign out, and the same reached with the keyboard alone. Screenshots of each step go to
tests/browser/artifacts/."""

from __future__ import annotations

import io
import time
import wave
from typing import Any

import pytest

from tests.browser.conftest import EXTERNAL_NUMBER, SPOOL_FORMAT, WebSite, require_playback, shot, sign_in
from tests.integration.pipeline.harness import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]

PLAYER = "document.getElementById('player')"


def _player(page: Any, expr: str) -> Any:
    return page.evaluate(f"(() => {{ const p = {PLAYER}; return {expr}; }})()")


def _current_time(page: Any) -> float:
    return float(_player(page, "p.currentTime"))


def _wait_player(page: Any, expr: str, what: str, timeout: float = 10.0) -> None:
    """Poll `expr` (on `p`, the player) from Python: the pages' CSP (script-src 'self') forbids the eval
    that page.wait_for_function uses, and page.evaluate is not subject to it."""
    deadline = time.monotonic() + timeout
    while not _player(page, expr):
        if time.monotonic() > deadline:
            state = _player(page, "({paused: p.paused, t: p.currentTime, ready: p.readyState, error: p.error && "
                                  "p.error.code, net: p.networkState})")
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; player {state}")
        time.sleep(0.05)


def _wait_playing_past(page: Any, seconds: float, timeout: float = 8.0) -> float:
    """Wait until the player is playing and its currentTime has reached `seconds`; return it."""
    _wait_player(page, f"!p.paused && p.currentTime >= {seconds}", f"playback past {seconds} s", timeout)
    return _current_time(page)


def _message_link(page: Any, message_id: str) -> Any:
    return page.locator(f"a[href$='/messages/{message_id}']")


def _tab_until(page: Any, condition_js: str, what: str, limit: int = 60) -> int:
    """Press Tab until `condition_js` (an expression on `el`, the focused element) holds; return the count
    (0 when it already holds, e.g. an autofocused field)."""
    check = f"(() => {{ const el = document.activeElement; return !!el && ({condition_js}); }})()"
    for count in range(limit + 1):
        if page.evaluate(check):
            return count
        page.keyboard.press("Tab")
    raise AssertionError(f"{what} not reached with {limit} presses of Tab")


def test_owner_signs_in_and_sees_only_their_messages(page: Any, web_site: WebSite) -> None:
    page.goto("/")
    page.wait_for_url("**/signin**")  # not signed in: the inbox sends you to sign-in
    shot(page, "01-signin")
    sign_in(page, web_site)
    m = web_site.messages
    for key in ("long", "external", "keyboard"):
        assert _message_link(page, m[key].id).count() >= 1, f"inbox has no link to message {key!r}"
    assert _message_link(page, m["not-mine"].id).count() == 0, "another mailbox's message is listed"
    text = page.locator("main").inner_text() if page.locator("main").count() else page.inner_text("body")
    assert "Alice Internal" in text
    assert EXTERNAL_NUMBER[-4:] in text, "the owner may see the outside caller's number"
    shot(page, "02-inbox")


def test_player_plays_and_seeks_over_http_range(signed_in_page: Any, web_site: WebSite) -> None:
    require_playback()
    page = signed_in_page
    left = web_site.messages["long"]
    audio_responses: list[tuple[int, str | None]] = []
    page.on("response", lambda r: audio_responses.append((r.status, r.headers.get("content-range")))
            if r.request.resource_type == "media" else None)
    page.goto("/")
    _message_link(page, left.id).first.click()
    page.wait_for_url(f"**/messages/{left.id}")
    player = page.locator("#player")
    shot(page, "03-player")

    box = player.bounding_box()
    assert box is not None
    player.click(position={"x": 20, "y": box["height"] / 2})  # the play button of the native controls
    reached = _wait_playing_past(page, 1.0)
    assert reached >= 1.0
    duration = float(_player(page, "p.duration"))  # preload="none": known once playing
    assert abs(duration - web_site.messages["long"].seconds) < 1.0, f"player duration {duration}"
    shot(page, "04-playing")

    # Range: the server answered partial content and the whole recording is seekable
    assert any(status == 206 and (rng or "").startswith("bytes ") for status, rng in audio_responses), \
        f"no 206 Partial Content for the audio: {audio_responses}"
    assert float(_player(page, "p.seekable.length ? p.seekable.end(0) : 0")) >= duration - 0.5
    src = str(_player(page, "p.currentSrc"))
    whole = page.context.request.get(src)
    assert whole.status == 200
    body = whole.body()
    if SPOOL_FORMAT == "wav":  # PCM is served exactly as recorded
        assert body == left.audio
    else:  # GSM transcoded to PCM WAV on the fly: a whole, valid WAV of the message's length
        with wave.open(io.BytesIO(body)) as w:
            assert abs(w.getnframes() / w.getframerate() - left.seconds) < 0.5
    part = page.context.request.get(src, headers={"Range": "bytes=1000-1999"})
    assert part.status == 206 and part.body() == body[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(body)}"

    _player(page, "(p.currentTime = 15, true)")
    after_seek = _wait_playing_past(page, 15.3)
    assert 15.0 <= after_seek < 19.0, f"did not play on from the seek point: {after_seek}"
    time.sleep(0.5)
    assert _current_time(page) > after_seek, "playback stopped after the seek"
    shot(page, "05-seeked")
    _player(page, "(p.pause(), true)")


def test_mark_read_and_unread_move_the_message_on_asterisk(signed_in_page: Any, web_site: WebSite) -> None:
    page = signed_in_page
    page.goto(web_site.player_url("long"))
    mark_read = page.get_by_role("button", name="Mark as read", exact=True)
    if mark_read.count() == 0:  # opening or playing it may already have marked it read
        page.get_by_role("button", name="Mark as unread", exact=True).click()
        wait_for(lambda: web_site.spool_folder("long") == "INBOX", 10, "the message back in INBOX")
        page.goto(web_site.player_url("long"))
    assert web_site.spool_folder("long") == "INBOX"
    mark_read.click()
    wait_for(lambda: web_site.spool_folder("long") == "Old", 10,
             "VoicemailMove INBOX->Old on the stand-in (the message's envelope in Old)")
    page.wait_for_load_state()
    shot(page, "06-marked-read")
    page.goto(web_site.player_url("long"))
    assert page.locator("#message-status").inner_text().strip() == "Old"
    page.get_by_role("button", name="Mark as unread", exact=True).click()
    wait_for(lambda: web_site.spool_folder("long") == "INBOX", 10, "VoicemailMove Old->INBOX on the stand-in")
    page.wait_for_load_state()
    shot(page, "07-marked-unread")


def test_play_on_my_phone_rings_the_owners_device(signed_in_page: Any, web_site: WebSite) -> None:
    page = signed_in_page
    calls_before = web_site.site.cdr_count()
    page.goto(web_site.player_url("keyboard"))
    page.get_by_role("button", name="Play on my phone", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("[role=status]").inner_text() in (
        "Calling your phone. Answer it to hear the message.", "Your phone answered. The message is playing.",
        "The message was played on your phone.")
    shot(page, "08-play-on-phone")
    # the page's script follows the call to its end (the phone answers, listens, hangs up)
    page.locator("[role=status]", has_text="The message was played on your phone.").wait_for(timeout=30_000)
    # the stand-in ran the originated call: its Cdr records reached the database, and the staging file
    # holding the plaintext for Playback is gone once the call ended
    wait_for(lambda: web_site.site.cdr_count() > calls_before, 20, "the Cdr of the call to the owner's phone")
    wait_for(lambda: web_site.staging_files == [], 20, "the staging file removed after the call")


def test_delete_removes_the_message_from_the_inbox_and_asterisk(signed_in_page: Any, web_site: WebSite) -> None:
    page = signed_in_page
    target = web_site.messages["external"]
    assert web_site.spool_folder("external") is not None
    blobs = web_site.blob_paths("external")
    assert blobs and all(p.is_file() for p in blobs)
    page.on("dialog", lambda d: d.accept())  # a confirm() before deleting, if the page asks
    page.goto(web_site.player_url("external"))
    page.get_by_role("button", name="Delete", exact=True).click()
    page.wait_for_load_state()
    if page.url.split("?")[0].endswith(f"/messages/{target.id}/delete"):  # the confirmation page
        shot(page, "09-delete-confirm")
        page.get_by_role("button", name="Delete", exact=True).click()
        page.wait_for_url(lambda url: "/delete" not in url)
    wait_for(lambda: web_site.spool_folder("external") is None, 10, "VoicemailRemove on the stand-in")
    assert not any(p.exists() for p in blobs), "the sealed audio is still in the vault"
    page.goto("/")
    assert _message_link(page, target.id).count() == 0, "deleted message still listed"
    shot(page, "10-deleted")
    gone = page.goto(web_site.player_url("external"))
    assert gone is not None and gone.status == 404


def test_sign_out_ends_the_session(page: Any, web_site: WebSite) -> None:
    sign_in(page, web_site)
    player_url = web_site.player_url("keyboard")
    page.goto(player_url)
    audio_src = str(_player(page, "p.currentSrc || p.src"))
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url("**/signin**")
    shot(page, "11-signed-out")
    page.goto("/")
    assert "/signin" in page.url, f"inbox reachable after sign-out: {page.url}"
    page.goto(player_url)
    assert "/signin" in page.url
    audio = page.context.request.get(audio_src, max_redirects=0)
    assert audio.status in (302, 303, 401, 403, 404), f"audio served after sign-out: {audio.status}"


def test_keyboard_alone_signs_in_and_plays_a_message(page: Any, web_site: WebSite) -> None:
    require_playback()
    page.goto("/signin")
    _tab_until(page, "el.id === 'username'", "the user name field")
    page.keyboard.type(web_site.username)
    _tab_until(page, "el.id === 'password'", "the password field", limit=3)
    page.keyboard.type(web_site.password)
    _tab_until(page, "(el.textContent || el.value || '').trim() === 'Sign in'", "the Sign in button", limit=5)
    shot(page, "12-keyboard-signin")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/signin" not in url)
    target = web_site.messages["keyboard"].id
    _tab_until(page, f"el.tagName === 'A' && el.getAttribute('href').endsWith('/messages/{target}')",
               "the message's link in the inbox")
    shot(page, "13-keyboard-inbox-focus")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/messages/{target}")
    _tab_until(page, "el.id === 'player'", "the audio player")
    page.keyboard.press("Space")
    _wait_playing_past(page, 0.5)
    shot(page, "14-keyboard-playing")
    _player(page, "(p.pause(), true)")
