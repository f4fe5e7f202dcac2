"""The web app over real sockets: `voicemail run` serves it (HTTPS with uvicorn) beside the listener,
`--no-web` does not, `voicemail web` serves it alone; accounts come from `voicemail accounts add`."""

from __future__ import annotations

import datetime as dt
import ipaddress
import signal
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.pipeline.harness import VOICEMAIL, Site, make_wav, wait_for

PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "web-cert.pem", folder / "web-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = Site(tmp_path / "site", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    s.prepare()
    s.start_standin()
    try:
        yield s
    finally:
        s.stop_all()


def add_account(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VOICEMAIL, "accounts", "add", *args, "--password-stdin"], input=PASSWORD + "\n",
                          env=site.env(), capture_output=True, text=True, timeout=60)


def up(url: str, verify: ssl.SSLContext | bool) -> bool:
    try:
        return httpx.get(url, verify=verify, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_voicemail_run_serves_the_web_app_over_https_and_stops_cleanly(site: Site, tmp_path: Path) -> None:
    done = add_account(site, "alice", "--mailbox", "1001@default", "--number", "1001")
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    cert, key = self_signed(tmp_path)
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    trust = ssl.create_default_context(cafile=str(cert))
    proc = site.spawn("run", log="run", VOICEMAIL_WEB_PORT=str(port), VOICEMAIL_WEB_TLS_CERT=str(cert),
                      VOICEMAIL_WEB_TLS_KEY=str(key), VOICEMAIL_WEB_BASE_URL=base)
    try:
        wait_for(lambda: up(f"{base}/healthz", trust), 30, "the web app to answer")
        audio = make_wav(2.0, 5)
        assert site.standin is not None
        site.standin.leave_message("1001@default", '"Bob Internal" <1002>', caller_context="vm-internal", audio=audio)
        with httpx.Client(base_url=base, verify=trust, timeout=10) as client:
            token = client.get("/api/v1/session").json()["csrf_token"]
            r = client.post("/api/v1/session", json={"username": "alice", "password": PASSWORD},
                            headers={"X-CSRF-Token": token, "Origin": base})
            assert r.status_code == 200, r.text
            assert "secure" in r.headers["set-cookie"].lower()

            def listed() -> list[dict[str, object]]:
                items: list[dict[str, object]] = client.get("/api/v1/mailboxes/default/1001/messages").json()["items"]
                return [i for i in items if i["playable"]]

            wait_for(lambda: bool(listed()), 60, "the message to be sealed and listed")
            mid = listed()[0]["id"]
            r = client.get(f"/api/v1/messages/{mid}/audio", headers={"Range": "bytes=100-"})
            assert r.status_code == 206 and r.content == audio[100:]
            assert r.headers["content-range"] == f"bytes 100-{len(audio) - 1}/{len(audio)}"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    assert code == 0, site.logs()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing left listening


def test_voicemail_run_with_no_web_serves_nothing(site: Site) -> None:
    port = free_port()
    proc = site.spawn("run", "--no-web", log="run", VOICEMAIL_WEB_PORT=str(port))
    try:
        assert site.standin is not None
        wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, site.logs()


def test_voicemail_web_alone_serves_health_and_status(site: Site) -> None:
    assert add_account(site, "root", "--role", "administrator").returncode == 0
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = site.spawn("web", log="web", VOICEMAIL_WEB_PORT=str(port), VOICEMAIL_WEB_COOKIE_SECURE="false",
                      VOICEMAIL_WEB_BASE_URL=base)
    try:
        wait_for(lambda: up(f"{base}/healthz", False), 30, "voicemail web to answer")
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get("/status").status_code == 401
            token = client.get("/api/v1/session").json()["csrf_token"]
            r = client.post("/api/v1/session", json={"username": "root", "password": PASSWORD},
                            headers={"X-CSRF-Token": token})
            assert r.status_code == 200, r.text
            checks = client.get("/status").json()["checks"]
            assert checks["ami"] == {"ok": True, "detail": "answering"}  # the stand-in's banner
            assert checks["database"]["ok"] and checks["vault"]["ok"] and checks["broker"]["ok"]
            assert client.get("/openapi.json").json()["info"]["title"] == "Voicemail"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, site.logs()


def test_a_web_port_in_use_is_a_configuration_error(site: Site) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([VOICEMAIL, "web"], env=site.env(VOICEMAIL_WEB_PORT=str(port)), capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "VOICEMAIL_WEB_PORT" in done.stderr and "Traceback" not in done.stderr
