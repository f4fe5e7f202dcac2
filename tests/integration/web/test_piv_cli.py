"""`voicemail accounts map-cert | map-oidc | identities | unmap`, run as the real command on PostgreSQL,
and the mapping it records used by a real sign-in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.integration.web import pki
from tests.integration.web.signin_harness import serve, site_settings

pytestmark = pytest.mark.postgres
HEADER = "X-SSL-Client-Cert"


def voicemail(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voicemail.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def site_env(tmp_path: Path, pg_url: str) -> dict[str, str]:
    (tmp_path / "pki-files").mkdir()
    test_pki = pki.build(tmp_path / "pki-files")
    env = {"VOICEMAIL_DATABASE_URL": pg_url, "VOICEMAIL_WEB_CLIENT_CA_FILE": str(test_pki.ca_file),
           "VOICEMAIL_WEB_CLIENT_CERT_HEADER": HEADER, "VOICEMAIL_WEB_TRUSTED_PROXIES": "127.0.0.1/32",
           "VOICEMAIL_WEB_COOKIE_SECURE": "false", "VOICEMAIL_OIDC_ISSUER": "https://idp.test.example",
           "VOICEMAIL_OIDC_CLIENT_ID": "voicemail", "VOICEMAIL_LOG_LEVEL": "WARNING",
           "VOICEMAIL_OIDC_REDIRECT_URL": "https://voicemail.test.example/signin/oidc/callback"}
    for name in ("alice", "expired", "bob"):
        (tmp_path / f"{name}.pem").write_bytes(getattr(test_pki, name).pem)
    return env


def test_map_cert_by_upn_then_sign_in_through_the_proxy(tmp_path: Path, site_env: dict[str, str]) -> None:
    assert voicemail(site_env, "accounts", "add", "alice", "--no-password").returncode == 0
    done = voicemail(site_env, "accounts", "map-cert", "alice", "--cert", str(tmp_path / "alice.pem"), "--by", "upn")
    assert done.returncode == 0, done.stderr
    assert "upn:alice@test.example" in done.stdout
    listed = voicemail(site_env, "accounts", "identities", "alice")
    assert "piv\tupn:alice@test.example" in listed.stdout

    settings = site_settings(tmp_path / "site", site_env["VOICEMAIL_DATABASE_URL"], site_env)
    with serve(settings) as site, httpx.Client(base_url=site.base_url, timeout=10) as browser:
        pem = (tmp_path / "alice.pem").read_text()
        response = browser.get("/signin/piv", headers={HEADER: quote(pem, safe="")})
        assert response.status_code == 303
        assert browser.get("/api/v1/me").json()["username"] == "alice"
        assert [e["action"] for e in site.audit("signin.map")] == ["signin.map"]

    removed = voicemail(site_env, "accounts", "unmap", "piv", "upn:alice@test.example")
    assert removed.returncode == 0, removed.stderr
    assert voicemail(site_env, "accounts", "identities").stdout == ""


def test_map_cert_refuses_a_certificate_that_could_not_sign_in(tmp_path: Path, site_env: dict[str, str]) -> None:
    assert voicemail(site_env, "accounts", "add", "erin", "--no-password").returncode == 0
    done = voicemail(site_env, "accounts", "map-cert", "erin", "--cert", str(tmp_path / "expired.pem"))
    assert done.returncode == 1 and "expired" in done.stderr and "nothing recorded" in done.stderr
    no_upn = voicemail(site_env, "accounts", "map-cert", "erin", "--cert", str(tmp_path / "bob.pem"), "--by", "upn")
    assert no_upn.returncode == 1 and "no upn identity" in no_upn.stderr
    assert voicemail(site_env, "accounts", "identities").stdout == ""


def test_one_certificate_cannot_be_mapped_to_two_accounts(tmp_path: Path, site_env: dict[str, str]) -> None:
    for name in ("alice", "mallory"):
        assert voicemail(site_env, "accounts", "add", name, "--no-password").returncode == 0
    cert = str(tmp_path / "alice.pem")
    assert voicemail(site_env, "accounts", "map-cert", "alice", "--cert", cert).returncode == 0
    again = voicemail(site_env, "accounts", "map-cert", "mallory", "--cert", cert)
    assert again.returncode == 1 and "already mapped" in again.stderr
    unknown = voicemail(site_env, "accounts", "map-cert", "nobody", "--cert", cert, "--by", "upn")
    assert unknown.returncode == 1 and "no web account" in unknown.stderr


def test_map_oidc_records_issuer_and_subject(site_env: dict[str, str]) -> None:
    assert voicemail(site_env, "accounts", "add", "alice", "--no-password").returncode == 0
    done = voicemail(site_env, "accounts", "map-oidc", "alice", "--subject", "248289761001")
    assert done.returncode == 0, done.stderr
    listed = voicemail(site_env, "accounts", "identities").stdout
    assert "alice\toidc\thttps://idp.test.example 248289761001" in listed
