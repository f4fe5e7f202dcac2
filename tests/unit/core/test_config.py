from __future__ import annotations

from pathlib import Path

import pytest

from voicemail.config import Settings, load_settings, settings_table
from voicemail.domain.errors import ConfigError


def test_environment_overrides_file_and_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "voicemail.toml"
    cfg.write_text('[voicemail]\nami_host = "pbx.example"\nami_port = 5039\n')
    s = load_settings(cfg, environ={"VOICEMAIL_AMI_PORT": "6000", "VOICEMAIL_INTERNAL_CONTEXTS": "a, b-c"})
    assert s.ami_host == "pbx.example"
    assert s.ami_port == 6000
    assert s.internal_contexts == ("a", "b-c")
    assert s.vault_dir == Settings().vault_dir


def test_issue_environment_names_are_all_recognised() -> None:
    env = {
        "VOICEMAIL_AMI_HOST": "h", "VOICEMAIL_AMI_PORT": "1", "VOICEMAIL_AMI_USERNAME": "u",
        "VOICEMAIL_AMI_SECRET": "s", "VOICEMAIL_AMI_TLS": "yes", "VOICEMAIL_SPOOL_DIR": "/sp",
        "VOICEMAIL_DATABASE_URL": "postgresql+psycopg://x@y/z", "VOICEMAIL_BROKER_URL": "redis://r",
        "VOICEMAIL_VAULT_DIR": "/v", "VOICEMAIL_KEYRING": "/k", "VOICEMAIL_MAILER": "outbox",
        "VOICEMAIL_OUTBOX_DIR": "/o", "VOICEMAIL_INTERNAL_CONTEXTS": "int", "VOICEMAIL_DIRECTORY_FILE": "/d.csv",
    }
    s = load_settings(environ=env)
    assert (s.ami_host, s.ami_port, s.ami_username, s.ami_secret, s.ami_tls) == ("h", 1, "u", "s", True)
    assert (s.spool_dir, s.broker_url, s.vault_dir, s.keyring, s.outbox_dir) == ("/sp", "redis://r", "/v", "/k", "/o")
    assert s.internal_contexts == ("int",) and s.directory_file == "/d.csv"


@pytest.mark.parametrize(("env", "named"), [
    ({"VOICEMAIL_AMI_PORT": "abc"}, "VOICEMAIL_AMI_PORT"),
    ({"VOICEMAIL_AMI_PORT": "70000"}, "VOICEMAIL_AMI_PORT"),
    ({"VOICEMAIL_AMI_TLS": "maybe"}, "VOICEMAIL_AMI_TLS"),
    ({"VOICEMAIL_MAILER": "fax"}, "VOICEMAIL_MAILER"),
    ({"VOICEMAIL_DATABASE_URL": "mysql://x"}, "VOICEMAIL_DATABASE_URL"),
    ({"VOICEMAIL_BROKER_URL": "http://x"}, "VOICEMAIL_BROKER_URL"),
    ({"VOICEMAIL_INTERNAL_CONTEXTS": "ok,../etc"}, "VOICEMAIL_INTERNAL_CONTEXTS"),
])
def test_bad_setting_names_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(environ=env)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "v.toml"
    cfg.write_text('ami_hots = "typo"\n')
    with pytest.raises(ConfigError, match="ami_hots"):
        load_settings(cfg, environ={})


def test_secret_is_masked_when_shown() -> None:
    s = load_settings(environ={"VOICEMAIL_AMI_SECRET": "hunter2"})
    assert "hunter2" not in repr(s.redacted())


def test_readme_table_lists_every_setting() -> None:
    table = settings_table()
    for name in Settings.__dataclass_fields__:
        assert f"`VOICEMAIL_{name.upper()}`" in table


def test_readme_configuration_table_is_current() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "README.md's configuration table is stale: run `voicemail config table`"


def test_a_mail_timeout_not_below_stale_after_is_refused_for_network_mailers() -> None:
    """A send that may outlast stale_after could be overtaken by another worker: refused with the names."""
    smtp = {"VOICEMAIL_MAILER": "smtp", "VOICEMAIL_SMTP_HOST": "mail.example.org", "VOICEMAIL_STALE_AFTER": "30"}
    with pytest.raises(ConfigError, match=r"mail_timeout \(VOICEMAIL_MAIL_TIMEOUT\): must be below stale_after"):
        load_settings(environ={**smtp, "VOICEMAIL_MAIL_TIMEOUT": "30"})
    assert load_settings(environ={**smtp, "VOICEMAIL_MAIL_TIMEOUT": "29"}).mail_timeout == 29
    # the outbox writes a local file: its timeout plays no part
    assert load_settings(environ={"VOICEMAIL_STALE_AFTER": "5", "VOICEMAIL_MAIL_TIMEOUT": "30"}).stale_after == 5
