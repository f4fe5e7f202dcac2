"""AMI logins and events (caller numbers, mailbox activity) are cleartext without TLS: plain AMI is
accepted to this host only, unless a setting says otherwise."""

from __future__ import annotations

import pytest

from voicemail.config import load_settings
from voicemail.domain.errors import ConfigError


@pytest.mark.parametrize("host", ["pbx.example", "192.0.2.10", "10.0.0.5", "::ffff:192.0.2.1", "0.0.0.0",
                                  "localhost.evil.example", "127.0.0.1.nip.io"])
def test_plain_ami_to_another_host_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="ami_allow_plaintext_remote"):
        load_settings(environ={"VOICEMAIL_AMI_HOST": host})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.10.0.1", "localhost", "::1", "[::1]", "LOCALHOST"])
def test_plain_ami_on_loopback_is_accepted(host: str) -> None:
    assert load_settings(environ={"VOICEMAIL_AMI_HOST": host}).ami_host == host


def test_remote_ami_over_tls_or_explicitly_allowed_plaintext_is_accepted() -> None:
    assert load_settings(environ={"VOICEMAIL_AMI_HOST": "pbx.example", "VOICEMAIL_AMI_TLS": "true"}).ami_tls
    s = load_settings(environ={"VOICEMAIL_AMI_HOST": "pbx.example", "VOICEMAIL_AMI_ALLOW_PLAINTEXT_REMOTE": "true"})
    assert s.ami_allow_plaintext_remote and not s.ami_tls
