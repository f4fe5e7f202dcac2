"""Downloading a message: the owner's own message as a WAV file (attachment, a file name with nothing of
the caller), audited as audio.download before the first byte; nobody else's, refusals audited too; an
audit trail that cannot be written means no file."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.integration.web.test_web_pages import form_sign_in
from tests.integration.web.web_harness import WebSite, sign_in, web_site
from voicemail.domain.errors import TransientError


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("download")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}") as s:
        yield s


def test_owner_downloads_the_recording_as_a_wav_file_and_it_is_audited(site: WebSite) -> None:
    mid, audio = site.leave(seed=91)
    client = site.client()
    sign_in(client, "alice")
    before = site.deps.audit.head().seq
    r = client.get(f"/api/v1/messages/{mid}/download")
    assert r.status_code == 200
    assert r.content == audio and r.content[:4] == b"RIFF" and r.content[8:12] == b"WAVE"
    assert r.headers["content-type"] == "audio/wav"
    assert re.fullmatch(r'attachment; filename="voicemail-\d{8}-\d{6}\.wav"', r.headers["content-disposition"])
    assert r.headers["cache-control"] == "no-store"
    events = [e for e in site.deps.audit.events(actor="alice") if e.seq > before]
    assert [(e.action, e.message_id, e.outcome) for e in events] == [("audio.download", mid, "ok")]


def test_the_message_page_offers_the_download(site: WebSite) -> None:
    mid, _ = site.leave(seed=92)
    client = site.client()
    form_sign_in(client, "alice")
    page = client.get(f"/messages/{mid}").text
    assert f'href="/api/v1/messages/{mid}/download" download' in page


@pytest.mark.parametrize("who", ["bob", "admin"])
def test_nobody_else_downloads_it_and_the_refusal_is_audited(site: WebSite, who: str) -> None:
    mid, _ = site.leave(seed=93)
    client = site.client()
    sign_in(client, who)
    before = site.deps.audit.head().seq
    r = client.get(f"/api/v1/messages/{mid}/download")
    assert r.status_code == 404 and b"RIFF" not in r.content
    events = [e for e in site.deps.audit.events(actor=who) if e.seq > before]
    assert [(e.action, e.message_id, e.outcome) for e in events] == [("audio.download", mid, "denied")]


def test_no_audit_record_means_no_file(site: WebSite, monkeypatch: pytest.MonkeyPatch) -> None:
    mid, _ = site.leave(seed=94)
    client = site.client()
    sign_in(client, "alice")
    services = site.deps.mailbox

    def broken(*_args: object, **_kwargs: object) -> None:
        raise TransientError("audit trail unavailable")

    monkeypatch.setattr(services, "_event", broken)
    r = client.get(f"/api/v1/messages/{mid}/download")
    assert r.status_code >= 500
    assert b"RIFF" not in r.content
