"""`voicemail run --no-web` with metrics_port: its own /metrics listener carries the listener's AMI figures
and the database figures, for a scraper with the token only; nothing else is served there."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.pipeline.harness import EXTERNAL_NUMBER, Site, free_port, make_wav, wait_for

pytestmark = [pytest.mark.slow]
TOKEN = "metrics-listener-test-token"


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return int(r.status), r.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), ""


def test_run_without_web_serves_metrics_on_its_own_port(tmp_path: Path) -> None:
    site = Site(tmp_path / "site", database_url=f"sqlite:///{tmp_path / 'site' / 'vm.db'}")
    site.prepare()
    site.start_standin()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        site.spawn("run", "--no-web", log="run", VOICEMAIL_METRICS_PORT=str(port), VOICEMAIL_METRICS_TOKEN=TOKEN,
                   VOICEMAIL_METRICS_CACHE_SECONDS="0")
        assert site.standin is not None
        wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]

        def up() -> bool:
            try:
                return get(f"{url}/metrics")[0] == 404  # answering, and refusing without the token
            except (urllib.error.URLError, OSError):
                return False

        wait_for(up, 30, "the metrics listener")
        assert site.standin.leave_message("1002@default", EXTERNAL_NUMBER, caller_context="vm-from-trunk",
                                          audio=make_wav(1.0, seed=5)) is not None
        wait_for(lambda: site.sent() >= 1, 60, "the notification")
        status, text = get(f"{url}/metrics", TOKEN)
        assert status == 200
        assert re.search(r"^voicemail_ami_connected 1\.0$", text, re.MULTILINE)
        assert re.search(r"^voicemail_messages_sealed_total 1\.0$", text, re.MULTILINE)
        assert re.search(r"^voicemail_notifications_sent_total 1\.0$", text, re.MULTILINE)
        assert EXTERNAL_NUMBER.lstrip("+") not in text and "1002" not in text
        assert get(f"{url}/metrics", "wrong")[0] == 404
        for path in ("/", "/operations", "/healthz", "/metrics/../"):
            assert get(url + path, TOKEN)[0] == 404, path
        with pytest.raises((urllib.error.URLError, OSError)):
            get(f"http://127.0.0.1:{site.web_port}/healthz")  # no web app with --no-web
    except AssertionError:
        print(site.logs())
        raise
    finally:
        site.stop_all()


def test_a_port_in_use_is_a_clear_config_error(tmp_path: Path) -> None:
    import socket

    from voicemail.config import load_settings
    from voicemail.db.engine import make_engine
    from voicemail.domain.errors import ConfigError
    from voicemail.observe.metrics_server import MetricsServer
    from voicemail.observe.observer import build_observer

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match="metrics_port"):
            MetricsServer(build_observer(engine, load_settings(environ={})), "127.0.0.1", port)
    engine.dispose()
