"""Path settings are absolute: no command writes into, or reads from, the folder it happens to be run from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from voicemail.cli import main
from voicemail.config import PATH_SETTINGS, Settings, load_settings, sqlite_path
from voicemail.domain.errors import ConfigError


def test_every_default_path_is_absolute() -> None:
    defaults = Settings()
    for name in PATH_SETTINGS:
        value = getattr(defaults, name)
        assert value == "" or Path(value).is_absolute(), name
    assert sqlite_path(defaults.database_url) == "/var/lib/voicemail/voicemail.db"


@pytest.mark.parametrize("name", ["vault_dir", "keyring", "outbox_dir", "audit_signing_key",
                                  "retention_records_dir", "phone_staging_dir", "spool_dir"])
def test_relative_path_setting_is_refused_naming_it(name: str) -> None:
    env = {f"VOICEMAIL_{name.upper()}": "var/somewhere"}
    with pytest.raises(ConfigError, match=f"VOICEMAIL_{name.upper()}.*absolute path.*var/somewhere"):
        load_settings(environ=env)


def test_relative_sqlite_database_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"VOICEMAIL_DATABASE_URL.*absolute.*var/voicemail\.db"):
        load_settings(environ={"VOICEMAIL_DATABASE_URL": "sqlite:///var/voicemail.db"})
    assert load_settings(environ={"VOICEMAIL_DATABASE_URL": "sqlite:////tmp/x.db"}).database_url.endswith("x.db")


def test_listing_from_another_folder_creates_nothing_there(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be\n")
    database = blocker / "voicemail.db"
    cwd = os.getcwd()
    os.chdir(elsewhere)
    try:
        result = CliRunner().invoke(main, ["notifications", "list"],
                                    env={"VOICEMAIL_DATABASE_URL": f"sqlite:///{database}"})
    finally:
        os.chdir(cwd)
    assert result.exit_code == 2, result.output
    assert str(database) in result.output and "Traceback" not in result.output
    assert list(elsewhere.iterdir()) == []


def test_unreadable_database_error_names_where_it_is(tmp_path: Path) -> None:
    database = tmp_path / "voicemail.db"
    database.write_bytes(b"this is not an SQLite database, it only has the name of one" * 20)
    result = CliRunner().invoke(main, ["notifications", "list"],
                                env={"VOICEMAIL_DATABASE_URL": f"sqlite:///{database}"})
    assert result.exit_code == 1, result.output
    assert f"cannot read the database {database}" in result.output
