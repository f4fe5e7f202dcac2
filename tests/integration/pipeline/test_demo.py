"""`voicemail demo`: the README's first quick-start command, and its web inbox."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path

import httpx

from tests.integration.pipeline.harness import VOICEMAIL
from voicemail.spool.placeholder import is_placeholder_bytes


def test_demo_once_seals_replaces_and_notifies_three_messages(tmp_path: Path) -> None:
    base = tmp_path / "demo"
    done = subprocess.run([VOICEMAIL, "demo", "--once", "--dir", str(base)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    emls = sorted((base / "outbox").glob("*.eml"))
    assert len(emls) == 3
    recordings = [p for p in (base / "spool").rglob("msg*.wav")]
    assert len(recordings) == 3 and all(is_placeholder_bytes("wav", p.read_bytes()) for p in recordings)
    assert "+12025550123" not in "".join(p.read_text() for p in emls)  # the outside caller is never named


def _cookie(response: httpx.Response) -> str:
    jar = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return "; ".join(f"{k}={v.value}" for k, v in jar.items())


def test_demo_serves_the_web_inbox_for_its_owners(tmp_path: Path) -> None:
    base = tmp_path / "demo"
    proc = subprocess.Popen([VOICEMAIL, "demo", "--dir", str(base)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not any("Web inbox:" in ln for ln in lines) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        line = next((ln for ln in lines if "Web inbox:" in ln), None)
        assert line is not None, "".join(lines)
        url = re.search(r"(http://127\.0\.0\.1:\d+)/signin", line)
        assert url is not None
        password_file = base / "web-password.txt"
        assert oct(password_file.stat().st_mode & 0o777) == "0o600"
        password = password_file.read_text().strip()
        assert password not in "".join(lines)  # printed nowhere: only its file is named
        origin = url.group(1)
        with httpx.Client(base_url=origin, timeout=10) as client:
            first = client.get("/api/v1/session")
            signed_in = client.post("/api/v1/session", json={"username": "alice", "password": password},
                                    headers={"X-CSRF-Token": first.json()["csrf_token"], "Origin": origin,
                                             "Cookie": _cookie(first)})
            assert signed_in.status_code == 200, signed_in.text
            cookie = {"Cookie": _cookie(signed_in)}
            inbox = client.get("/api/v1/mailboxes/default/1001/messages", headers=cookie).json()
            assert inbox["total"] == 1 and inbox["items"][0]["caller_kind"] == "external"
            audio = client.get(f"/api/v1/messages/{inbox['items'][0]['id']}/audio", headers=cookie)
            assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
            # alice owns 1001 only: carol's mailbox is not hers
            assert client.get("/api/v1/mailboxes/default/2001/messages", headers=cookie).status_code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0, "".join(lines)
