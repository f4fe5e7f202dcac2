"""Retention periods have floors the configuration cannot go below; key and FIPS settings are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicemail.config import load_settings
from voicemail.domain.errors import ConfigError
from voicemail.keys.fips import fips_active, require_fips
from voicemail.lifecycle.policy import RetentionPolicy


def test_defaults_keep_messages_two_years() -> None:
    policy = RetentionPolicy.from_settings(load_settings(environ={}))
    assert policy.days["messages.new"] == policy.days["messages.old"] == 730
    assert 90 <= policy.days["audit_epochs"] <= 2555


@pytest.mark.parametrize(("name", "value", "floor"), [
    ("retention_messages_new_days", "29", 30), ("retention_messages_old_days", "1", 30),
    ("retention_cdr_days", "89", 90), ("retention_notifications_days", "7", 30),
    ("retention_evidence_days", "364", 365), ("retention_call_history_days", "0", 30),
])
def test_a_period_below_its_floor_is_refused_with_a_clear_message(name: str, value: str, floor: int) -> None:
    env = {f"VOICEMAIL_{name.upper()}": value}
    with pytest.raises(ConfigError) as info:
        load_settings(environ=env)
    text = str(info.value)
    assert f"VOICEMAIL_{name.upper()}" in text and f"minimum of {floor} days" in text
    load_settings(environ={f"VOICEMAIL_{name.upper()}": str(floor)})  # the floor itself is fine


def test_audit_retention_keeps_its_90_to_2555_day_bounds() -> None:
    for bad in ("89", "2556"):
        with pytest.raises(ConfigError, match="VOICEMAIL_AUDIT_RETENTION_DAYS"):
            load_settings(environ={"VOICEMAIL_AUDIT_RETENTION_DAYS": bad})


@pytest.mark.parametrize(("env", "match"), [
    ({"VOICEMAIL_KEK_MAX_WRAPS": str(1 << 32)}, "2\\^32"),
    ({"VOICEMAIL_KEK_MAX_WRAPS": "0"}, "KEK_MAX_WRAPS"),
    ({"VOICEMAIL_KEYRING_BACKEND": "tpm"}, "file or pkcs11"),
    ({"VOICEMAIL_KEYRING_BACKEND": "pkcs11", "VOICEMAIL_PKCS11_TOKEN_LABEL": ""}, "PKCS11_TOKEN_LABEL"),
    ({"VOICEMAIL_QUOTA_SITE_BYTES": "-1"}, "QUOTA_SITE_BYTES"),
    ({"VOICEMAIL_RETENTION_BATCH": "0"}, "RETENTION_BATCH"),
])
def test_bad_key_and_quota_settings_are_refused(env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_settings(environ=env)


def test_fips_mode_refuses_non_approved_ntlm() -> None:
    env = {"VOICEMAIL_FIPS_MODE": "true", "VOICEMAIL_MAILER": "ews", "VOICEMAIL_EWS_ENDPOINT": "https://mail.test/EWS",
           "VOICEMAIL_EWS_USERNAME": "svc", "VOICEMAIL_EWS_PASSWORD": "pw"}
    with pytest.raises(ConfigError, match="NTLM"):
        load_settings(environ=env)
    load_settings(environ={**env, "VOICEMAIL_FIPS_MODE": "false"})


@pytest.mark.skipif(fips_active(), reason="this OpenSSL runs the FIPS provider")
def test_fips_mode_refuses_to_start_without_the_fips_provider(tmp_path: Path) -> None:
    from voicemail.app import build_container
    from voicemail.vault import FileKeyring

    FileKeyring.create(tmp_path / "keyring.json")
    settings = load_settings(environ={"VOICEMAIL_FIPS_MODE": "1", "VOICEMAIL_KEYRING": str(tmp_path / "keyring.json"),
                                      "VOICEMAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'vm.db'}"})
    with pytest.raises(ConfigError, match="FIPS provider is not active"):
        require_fips(settings)
    with pytest.raises(ConfigError, match="refusing to start"):
        build_container(settings, on_new=lambda _id: None)
    require_fips(load_settings(environ={}))  # off: nothing to check
