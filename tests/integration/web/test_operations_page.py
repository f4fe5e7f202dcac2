"""The operations page (administrators only) and /metrics of the web app, on real sealed messages."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.integration.pipeline.harness import EXTERNAL_NUMBER, make_wav
from tests.integration.web.web_harness import WebSite, sign_in, web_site

TOKEN = "scrape-token-for-tests"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("operations")
    # TestClient's peer is "testclient" (no address): the token alone decides here
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}", metrics_token=TOKEN, metrics_allow_from=(),
                  metrics_cache_seconds=0.0, quota_site_bytes=10_000_000) as s:
        for seed in range(3):
            mid, _ = s.leave(seed=seed)
        s.box.leave("1002@default", make_wav(1.0, 7), callerid=EXTERNAL_NUMBER, context="vm-from-trunk")
        note = s.box.container.store.notification_for(mid)
        assert note is not None
        s.box.container.notifier.send(note[0])
        yield s


def assert_no_caller(text: str) -> None:
    for form in (EXTERNAL_NUMBER, EXTERNAL_NUMBER.lstrip("+"), EXTERNAL_NUMBER[-7:], "Alice"):
        assert form not in text, form


def metric(text: str, name: str, **labels: str) -> float:
    label = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + label + '}') if label else ''} (\S+)$"
    m = re.search(pattern, text, re.MULTILINE)
    assert m, f"{name} {labels} not in the scrape"
    return float(m.group(1))


def test_metrics_need_the_token(site: WebSite) -> None:
    client = site.client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")


def test_metrics_count_the_sealed_messages_and_name_no_caller(site: WebSite) -> None:
    text = site.client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert metric(text, "voicemail_messages_sealed_total") == 4
    assert metric(text, "voicemail_messages_stripped_total") == 4
    assert metric(text, "voicemail_messages", state="stripped") == 4
    assert metric(text, "voicemail_notifications_sent_total") == 1
    assert metric(text, "voicemail_queue_depth", queue="notification") == 3
    assert metric(text, "voicemail_queue_depth", queue="custody") == 0
    assert metric(text, "voicemail_custody_seal_seconds_bucket", le="+Inf") == 4
    assert metric(text, "voicemail_custody_total_seconds_bucket", le="+Inf") == 1
    assert 0 < metric(text, "voicemail_vault_bytes") < metric(text, "voicemail_vault_quota_bytes")
    assert metric(text, "voicemail_notification_failures", backend="outbox") == 0
    assert "voicemail_ami_connected" not in text  # no listener in this process
    assert_no_caller(text)
    assert "1001" not in text and "1002" not in text  # no mailbox labels
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text), "a message id in the scrape"


def test_operations_page_is_for_administrators_only(site: WebSite) -> None:
    anonymous = site.client()
    assert anonymous.get("/operations", follow_redirects=False).status_code == 303
    for who in ("alice", "nobody"):
        client = site.client()
        sign_in(client, who)
        assert client.get("/operations").status_code == 404, who
        assert 'href="/operations"' not in client.get("/").text


def test_operations_page_shows_queue_dead_letters_and_charts(site: WebSite) -> None:
    client = site.client()
    sign_in(client, "admin")
    r = client.get("/operations")
    assert r.status_code == 200
    html = r.text
    assert 'href="/operations" aria-current="page"' in html
    assert 'data-testid="custody-figure">0<' in html and 'data-testid="dead-letters-figure">0<' in html
    assert 'data-testid="notify-figure">3<' in html  # three notifications left pending by the fixture
    assert html.count('role="img"') == 2 and "<desc" in html and "<script" not in html
    assert "Messages per hour" in html and "of a 9.5 MiB quota" in html
    assert "the AMI listener runs in another process" in html  # no runtime given to this app
    # never signed a checkpoint while one is scheduled: the summary names it
    summary = html[html.index('data-testid="ops-summary"'):html.index("<h2>Now</h2>")]
    assert "need" in summary and 'href="#card-checkpoint"' in summary
    rows = re.findall(r"<tr><th scope=\"row\">[^<]+</th><td>(\d+)</td><td>(\d+)</td>", html)
    assert len(rows) == 24 and sum(int(m) for m, _ in rows) == 4 and sum(int(n) for _, n in rows) == 1
    assert "1001@" not in html and "1002@" not in html
    assert_no_caller(html)
