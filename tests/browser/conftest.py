"""The browser tests' site: the real system (Asterisk stand-in, `voicemail run`, `voicemail web`) and
Debian's Chromium driven by Playwright.

One site for the tests of this folder (package scope: stopped when they are done): a PostgreSQL database,
the stand-in with real spool files (format=wav49), the custody pipeline (`voicemail run --no-web`,
embedded transport) sealing and stripping four messages, an owner account made with
`voicemail accounts add` (password on stdin), and `voicemail web` on a free port.
"""

from __future__ import annotations

import dataclasses
import os
import random
import secrets
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fresh_pg_database
from tests.integration.pipeline.harness import MAILBOXES, VOICEMAIL, Site, make_wav, wait_for
from tests.requirements import require_binary, require_file
from voicemail.domain.models import MailboxRef
from voicemail.spool.envelope import parse_envelope
from voicemail.standin import StandinConfig, StandinThread
from voicemail.standin.config import FORMAT_EXTENSIONS
from voicemail.vault import FileVault

HERE = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("VOICEMAIL_CHROMIUM", "/usr/bin/chromium"))
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = HERE / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--mute-audio"]
OWNER = "bob.owner"
OWNER_MAILBOX = "1002@default"
OTHER_MAILBOX = "2001@default"
EXTERNAL_NUMBER = "+12025550123"
SPOOL_FORMAT = os.environ.get("VOICEMAIL_BROWSER_FORMAT", "wav49")  # or "wav" (PCM, served as recorded)


def require_playback() -> None:
    """Playing Asterisk's GSM (wav49) in the browser needs ffmpeg on the server side (transcoding)."""
    if SPOOL_FORMAT == "wav49":
        require_binary("ffmpeg", package="ffmpeg")


@dataclass(frozen=True)
class Left:
    """A message the fixture left: where, Asterisk's msg_id, our id (the web's), how long."""

    key: str
    mailbox: str
    msg_id: str
    id: str
    seconds: float
    caller: str | None
    audio: bytes = field(default=b"", repr=False)  # what the caller "said" (the WAV given to the stand-in)


# key -> (mailbox, caller id, dialplan context, seconds of audio)
MESSAGES: dict[str, tuple[str, str | None, str, float]] = {
    "long": (OWNER_MAILBOX, '"Alice Internal" <1001>', "vm-internal", 22.0),  # play, seek, mark read
    "external": (OWNER_MAILBOX, EXTERNAL_NUMBER, "vm-from-trunk", 3.0),  # an outside caller's, kept
    "keyboard": (OWNER_MAILBOX, None, "vm-from-trunk", 4.0),  # played with the keyboard only
    # an outside caller sending a colleague's name and extension; played to the end (marks it read)
    "spoof": (OWNER_MAILBOX, '"Bob Internal" <1002>', "vm-from-trunk", 2.0),
    # never shown to the owner; the owner (1002) placed this call, so it is in their call history
    "not-mine": (OTHER_MAILBOX, '"Bob Internal" <1002>', "vm-internal", 2.0),
}


@dataclass
class WebSite:
    site: Site
    base_url: str
    username: str
    password: str
    messages: dict[str, Left] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    def leave(self, key: str, mailbox: str, callerid: str | None, context: str, seconds: float,
              seed: int) -> Left:
        """A new message of a test's own (a test that deletes or changes one must not take another test's),
        waited for until custody sealed and stripped it; listed in ``messages`` under ``key``."""
        assert self.site.standin is not None
        audio = make_wav(seconds, seed=seed)
        before = _stripped(self.site)
        msg_id = self.site.standin.leave_message(mailbox, callerid, caller_context=context, audio=audio)
        assert msg_id is not None
        wait_for(lambda: _stripped(self.site) > before, 60, f"message {key} sealed and stripped")
        with self.site.store() as store:
            record = store.find(MailboxRef.parse(mailbox), msg_id)
        assert record is not None
        self.messages[key] = Left(key, mailbox, msg_id, record.id, seconds, callerid, audio)
        return self.messages[key]

    def player_url(self, key: str) -> str:
        return self.url(f"/messages/{self.messages[key].id}")

    def blob_paths(self, key: str) -> list[Path]:
        """Where the message's sealed recordings lie in the vault."""
        left = self.messages[key]
        with self.site.store() as store:
            record = store.find(MailboxRef.parse(left.mailbox), left.msg_id)
        assert record is not None
        vault = FileVault(self.site.root / "vault")
        return [vault.path_for(r.blob_name) for r in record.recordings]

    @property
    def staging_files(self) -> list[Path]:
        """Plaintext staging files of "Play on my phone" that exist right now."""
        staging = self.site.root / "staging"
        return sorted(staging.iterdir()) if staging.is_dir() else []

    def spool_folder(self, key: str) -> str | None:
        """The spool folder (INBOX, Old, ...) holding the message's envelope, or None if it is gone."""
        left = self.messages[key]
        ref = MailboxRef.parse(left.mailbox)
        box = self.site.spool / ref.context / ref.mailbox
        for txt in box.glob("*/msg*.txt"):
            if parse_envelope(txt.read_bytes()).msg_id == left.msg_id:
                return txt.parent.name
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for all the browser tests (tests/conftest.py's pg_url is per test)."""
    with fresh_pg_database("vm_browser") as url:
        yield url


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def _stripped(site: Site) -> int:
    with site.store() as store:
        return int(store.summary().get("messages.stripped", 0))


@pytest.fixture(scope="package")
def web_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    require_file(CHROMIUM, package="chromium")
    root = tmp_path_factory.mktemp("browser") / "site"
    with pg_database() as db_url:
        site = Site(root, database_url=db_url)
        site.prepare()
        # Asterisk's GSM format only ("format=wav49"): the player gets it transcoded on the fly (ffmpeg)
        site.standin = StandinThread(StandinConfig(spool_dir=site.spool, username="voicemail", secret=site.secret,
                                                   mailboxes=MAILBOXES, formats=(SPOOL_FORMAT,)))
        site.port = site.standin.start()
        port = free_port()
        # "Play on my phone" rings a Local channel of the stand-in's lab dialplan (it answers and listens)
        extra = {"VOICEMAIL_PHONE_DEVICE_TEMPLATE": "Local/play@vmlab/n", "VOICEMAIL_PHONE_RING_TIMEOUT": "5",
                 "VOICEMAIL_PHONE_STAGING_DIR": str(root / "staging"),
                 "VOICEMAIL_SPOOL_FORMATS": FORMAT_EXTENSIONS[SPOOL_FORMAT]}
        try:
            site.spawn("run", "--no-web", log="run", **extra)
            site.spawn("web", log="web", VOICEMAIL_WEB_HOST="127.0.0.1", VOICEMAIL_WEB_PORT=str(port),
                       VOICEMAIL_WEB_INBOX_POLL_SECONDS="1",  # an open inbox asks again every second
                       # every test signs in from 127.0.0.1: far more than the 20 a person gets in 5 minutes
                       VOICEMAIL_WEB_SIGNIN_RATE_LIMIT="1000", **extra)
            wait_for(lambda: site.standin.session_count() >= 1, 30,  # type: ignore[union-attr]
                     "the listener to log in to the stand-in")
            web = WebSite(site, f"http://127.0.0.1:{port}", OWNER, secrets.token_urlsafe(18))
            for seed, (key, (mailbox, callerid, context, seconds)) in enumerate(MESSAGES.items()):
                audio = make_wav(seconds, seed=seed + 4000)
                msg_id = site.standin.leave_message(mailbox, callerid, caller_context=context, audio=audio)
                assert msg_id is not None
                web.messages[key] = Left(key, mailbox, msg_id, "", seconds, callerid, audio)
            add = subprocess.run(
                [VOICEMAIL, "accounts", "add", OWNER, "--role", "owner", "--mailbox", OWNER_MAILBOX,
                 "--number", "1002", "--password-stdin"],
                input=(web.password + "\n").encode(), env=site.env(), capture_output=True, timeout=60)
            assert add.returncode == 0, f"voicemail accounts add failed: {add.stdout!r} {add.stderr!r}"
            wait_for(lambda: _stripped(site) >= len(MESSAGES), 60, "every message sealed and stripped")
            wait_for(lambda: _healthy(web.url("/healthz")), 60, "voicemail web's /healthz")
            with site.store() as store:
                for key, left in list(web.messages.items()):
                    record = store.find(MailboxRef.parse(left.mailbox), left.msg_id)
                    assert record is not None, f"message {key} not in the database"
                    web.messages[key] = dataclasses.replace(left, id=record.id)
        except BaseException:
            print(site.logs())
            site.stop_all()
            raise
        try:
            yield web
        finally:
            site.stop_all()
            if os.environ.get("VOICEMAIL_BROWSER_LOGS"):
                print(site.logs())


# --- Playwright ------------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser(web_site: WebSite) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser: Any, web_site: WebSite) -> Iterator[Any]:
    """A fresh browser profile (no cookies) per test."""
    ctx = browser.new_context(base_url=web_site.base_url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


@contextmanager
def signed_in_screen(browser: Any, web_site: WebSite, state: dict[str, Any], viewport: dict[str, int], *,
                     timeout_ms: int = 15_000, **options: Any) -> Iterator[Any]:
    """A page of a fresh profile carrying ``state``'s sign-in, at ``viewport`` (options: new_context's)."""
    ctx = browser.new_context(base_url=web_site.base_url, viewport=viewport, bypass_csp=True,
                              storage_state=state, **options)
    ctx.set_default_timeout(timeout_ms)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


@pytest.fixture(scope="package")
def signed_in_state(browser: Any, web_site: WebSite) -> dict[str, Any]:
    """One sign-in (in the browser) whose cookies the tests that start signed in reuse."""
    ctx = browser.new_context(base_url=web_site.base_url)
    try:
        page = ctx.new_page()
        sign_in(page, web_site)
        state: dict[str, Any] = ctx.storage_state()
        return state
    finally:
        ctx.close()


@pytest.fixture
def signed_in_page(browser: Any, web_site: WebSite, signed_in_state: dict[str, Any]) -> Iterator[Any]:
    """A page in a fresh browser profile that starts with the owner's session cookie."""
    ctx = browser.new_context(base_url=web_site.base_url, viewport={"width": 1280, "height": 900},
                              storage_state=signed_in_state)
    ctx.set_default_timeout(10_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under tests/browser/artifacts/ (kept by CI)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, web: WebSite) -> None:
    page.goto("/signin")
    page.locator("#username").fill(web.username)
    page.locator("#password").fill(web.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/signin" not in url)



# --- order -----------------------------------------------------------------------------------------
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """VOICEMAIL_BROWSER_ORDER=reverse or random[:SEED]: run the browser tests of each module in another
    order, to show that none depends on what an earlier one did (modules stay together, so their
    module-scoped fixtures are set up once)."""
    order = os.environ.get("VOICEMAIL_BROWSER_ORDER", "")
    if not order:
        return
    mine = [i for i in items if Path(str(i.fspath)).parent == HERE]
    if not mine:
        return
    modules: dict[str, list[pytest.Item]] = {}
    for item in mine:
        modules.setdefault(str(item.fspath), []).append(item)
    rng = random.Random(int(order.split(":", 1)[1]) if order.startswith("random:") else None)
    reordered: list[pytest.Item] = []
    for group in modules.values():
        if order == "reverse":
            group = group[::-1]
        else:
            rng.shuffle(group)
        reordered.extend(group)
    others = [i for i in items if i not in mine]
    items[:] = others + reordered
    print(f"browser tests in {order} order: " + ", ".join(i.name for i in reordered))
