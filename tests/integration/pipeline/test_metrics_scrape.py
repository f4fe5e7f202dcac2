"""/metrics of `voicemail run` after messages flowed through the real pipeline (stand-in Asterisk, a
Celery worker process on Redis, PostgreSQL): the figures match, and no caller or message is named."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from tests.integration.pipeline.harness import CALLERS, EXTERNAL_NUMBER, Site, make_wav, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
N = 6


def scrape(site: Site) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{site.web_port}/metrics", timeout=10) as r:
        assert r.status == 200
        return str(r.read().decode())


def value(text: str, name: str, labels: str = "") -> float:
    m = re.search(rf"^{re.escape(name + (('{' + labels + '}') if labels else ''))} (\S+)$", text, re.MULTILINE)
    assert m, f"{name}{{{labels}}} missing from the scrape"
    return float(m.group(1))


def _serving(site: Site) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{site.web_port}/healthz", timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


def test_scrape_after_the_pipeline_counts_every_message_and_names_no_caller(site: Site) -> None:
    site.spawn("worker", "--concurrency", "2", log="worker", VOICEMAIL_LOG_FORMAT="json")
    site.spawn("run", log="run", VOICEMAIL_LOG_FORMAT="json", VOICEMAIL_METRICS_CACHE_SECONDS="0")
    assert site.standin is not None
    wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
    wait_for(lambda: _serving(site), 30, "the web app of `voicemail run`")
    before = scrape(site)
    assert value(before, "voicemail_messages_sealed_total") == 0
    assert value(before, "voicemail_ami_connected") == 1
    for i in range(N):
        callerid, context = CALLERS[i % len(CALLERS)]
        mailbox = ("1001@default", "1002@default", "2001@default")[i % 3]
        assert site.standin.leave_message(mailbox, callerid, caller_context=context,
                                          audio=make_wav(1.0, seed=100 + i)) is not None
    try:
        wait_for(lambda: site.sent() >= N, 90, f"{N} notifications")
    except AssertionError:
        print(site.logs())
        raise

    text = scrape(site)
    assert value(text, "voicemail_messages_discovered_total") == N
    assert value(text, "voicemail_messages_sealed_total") == N
    assert value(text, "voicemail_messages_stripped_total") == N
    assert value(text, "voicemail_notifications_sent_total") == N
    assert value(text, "voicemail_messages", 'state="stripped"') == N
    assert value(text, "voicemail_queue_depth", 'queue="custody"') == 0
    assert value(text, "voicemail_queue_depth", 'queue="notification"') == 0
    assert value(text, "voicemail_oldest_pending_seconds", 'queue="custody"') == 0
    assert value(text, "voicemail_failed_total", 'kind="custody"') == 0
    assert value(text, "voicemail_custody_seal_seconds_bucket", 'le="+Inf"') == N
    assert value(text, "voicemail_custody_total_seconds_bucket", 'le="+Inf"') == N
    assert value(text, "voicemail_custody_total_seconds_bucket", 'le="60.0"') == N  # all within a minute
    assert value(text, "voicemail_vault_bytes") >= N * 16000  # 1 s of 8 kHz 16-bit audio each
    assert value(text, "voicemail_ami_connected") == 1 and value(text, "voicemail_ami_reconnects_total") == 0
    assert value(text, "voicemail_reconciliations_total") >= 1
    assert value(text, "voicemail_last_reconciliation_timestamp_seconds") > 0
    assert value(text, "voicemail_broker_up") == 1 and value(text, "voicemail_broker_queue_messages") >= 0

    # from loopback but through a (reverse) proxy: refused, no token is configured
    proxied = urllib.request.Request(f"http://127.0.0.1:{site.web_port}/metrics",
                                     headers={"X-Forwarded-For": "203.0.113.5"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(proxied, timeout=10)
    assert refused.value.code == 404

    # nothing about callers, mailboxes or messages in the scrape
    digits = EXTERNAL_NUMBER.lstrip("+")
    for needle in (digits, digits[-7:], "Alice", "1001", "1002", "2001@"):
        assert needle not in text, needle
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-", text), "a message id in the scrape"

    # `voicemail run` and the worker logged JSON lines only (log_format = json; no Celery banner), none
    # with the outside caller's number
    for name in ("run", "worker"):
        lines = [line for line in (site.root / f"{name}.log").read_text().splitlines() if line.strip()]
        records = [json.loads(line) for line in lines]
        assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records), name
        assert any(r["logger"].startswith("voicemail") for r in records), name
        assert digits not in "\n".join(lines) and digits[-7:] not in "\n".join(lines), name
