"""The doctor's mail check against a real SMTP server (aiosmtpd, STARTTLS with a throw-away CA): reachable
and talking TLS passes without sending anything; a closed port or an untrusted certificate fails, named."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.integration.mail.smtp_peer import free_port, running_smtp_peer
from tests.integration.mail.tls import make_certificates
from voicemail.config import Settings
from voicemail.ops.remote_checks import check_mailer


def smtp_settings(port: int, ca_file: str) -> Settings:
    return Settings(mailer="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_tls="starttls",
                    smtp_username="voicemail", smtp_password="s3cret-pass", smtp_ca_file=ca_file)


def test_reachable_smtp_server_with_starttls_passes_and_nothing_is_sent(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    with running_smtp_peer("starttls", certificates.server_context()) as peer:
        result = check_mailer(smtp_settings(peer.port, str(certificates.ca_file)), timeout=5)
        assert result.ok, result.detail
        assert f"127.0.0.1:{peer.port} (starttls)" in result.detail
        assert peer.delivered == []
        other_ca = make_certificates(tmp_path / "other")
        untrusted = check_mailer(smtp_settings(peer.port, str(other_ca.ca_file)), timeout=5)
    assert not untrusted.ok and "SSLCertVerificationError" in untrusted.detail


def test_smtp_server_down_fails_the_mailer_check(tmp_path: Path) -> None:
    port = free_port()
    result = check_mailer(dataclasses.replace(smtp_settings(port, ""), smtp_ca_file=""), timeout=5)
    assert not result.ok and f"127.0.0.1:{port}" in result.detail and "ConnectionRefusedError" in result.detail
