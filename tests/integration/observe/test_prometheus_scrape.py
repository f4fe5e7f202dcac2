"""A real Prometheus (Debian's package) scrapes `voicemail run`'s metrics listener with the bearer token
after a message went through the pipeline, and loads deploy/prometheus/alerts.yaml: the exposition is
accepted, the figures are queryable, the histogram works with histogram_quantile, every rule is healthy."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.pipeline.harness import EXTERNAL_NUMBER, Site, free_port, make_wav, wait_for
from tests.requirements import require_binary

pytestmark = [pytest.mark.slow]
RULES = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "alerts.yaml"
TOKEN = "prometheus-scrape-test-token"


def prometheus_binary() -> str:
    return require_binary("prometheus", package="prometheus")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = Site(tmp_path / "site", database_url=f"sqlite:///{tmp_path / 'site' / 'vm.db'}")
    s.prepare()
    s.start_standin()
    yield s
    s.stop_all()


def query(base: str, expr: str) -> list[dict[str, object]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def value(base: str, expr: str) -> float | None:
    result = query(base, expr)
    return float(result[0]["value"][1]) if result else None  # type: ignore[index]


def test_prometheus_scrapes_the_service_and_loads_the_alerts(site: Site, tmp_path: Path) -> None:
    binary = prometheus_binary()
    metrics_port, prom_port = free_port(), free_port()
    site.spawn("run", "--no-web", log="run", VOICEMAIL_METRICS_PORT=str(metrics_port),
               VOICEMAIL_METRICS_TOKEN=TOKEN, VOICEMAIL_METRICS_CACHE_SECONDS="0")
    prom = tmp_path / "prometheus"
    prom.mkdir()
    (prom / "token").write_text(TOKEN)
    shutil.copy(RULES, prom / "alerts.yaml")
    (prom / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [alerts.yaml]\n"
        "scrape_configs:\n"
        "  - job_name: voicemail\n"
        f"    authorization: {{type: Bearer, credentials_file: {prom / 'token'}}}\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n")
    log = open(prom / "prometheus.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen([binary, f"--config.file={prom / 'prometheus.yml'}",
                               f"--storage.tsdb.path={prom / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{prom_port}"
    try:
        assert site.standin is not None
        wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
        assert site.standin.leave_message("1001@default", EXTERNAL_NUMBER, caller_context="vm-from-trunk",
                                          audio=make_wav(1.0, seed=9)) is not None
        wait_for(lambda: site.sent() >= 1, 60, "the notification")

        def scraped() -> bool:
            try:
                return value(base, 'voicemail_notifications_sent_total{job="voicemail"}') == 1.0
            except (urllib.error.URLError, OSError):
                return False

        wait_for(scraped, 60, "Prometheus to scrape the sent notification")
        assert value(base, 'up{job="voicemail"}') == 1.0
        assert value(base, "voicemail_messages_sealed_total") == 1.0
        assert value(base, "voicemail_ami_connected") == 1.0
        p50 = value(base, "histogram_quantile(0.5, sum by (le) (voicemail_custody_total_seconds_bucket))")
        assert p50 is not None and 0 < p50 <= 60
        with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=5) as r:
            groups = json.load(r)["data"]["groups"]
        rules = [rule for g in groups for rule in g["rules"]]
        assert len(rules) == 14 and all(rule["health"] == "ok" for rule in rules), rules
        firing = {a["metric"]["alertname"] for a in query(base, "ALERTS")}  # type: ignore[index]
        assert not firing & {"VoicemailAmiDown", "VoicemailCustodyBacklog", "VoicemailDeadLetters"}, firing
    except AssertionError:
        print(site.logs(), (prom / "prometheus.log").read_text(errors="replace")[-3000:])
        raise
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)
        log.close()
