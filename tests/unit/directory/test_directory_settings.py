"""Directory settings (environment names, AD defaults overridable one by one, errors naming the variable),
the beat schedule entry, and the 0003 migration matching the models."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicemail.config import load_settings
from voicemail.directory.from_settings import ldap_options, number_plan
from voicemail.domain.errors import ConfigError

LDAP = {"VOICEMAIL_LDAP_URL": "ldaps://dc1.agency.example", "VOICEMAIL_LDAP_BASE_DN": "DC=agency,DC=example"}


def test_attribute_map_defaults_are_active_directory_names() -> None:
    attrs = ldap_options(load_settings(environ=LDAP)).attributes
    assert (attrs.id, attrs.account, attrs.name, attrs.mail, attrs.phone, attrs.ip_phone, attrs.mobile,
            attrs.employee_id, attrs.office, attrs.account_control, attrs.changed) == (
        "objectGUID", "sAMAccountName", "displayName", "mail", "telephoneNumber", "ipPhone", "mobile",
        "employeeID", "physicalDeliveryOfficeName", "userAccountControl", "uSNChanged")


def test_each_attribute_is_overridable_on_its_own_for_openldap_or_freeipa() -> None:
    env = {**LDAP, "VOICEMAIL_LDAP_ATTR_PHONE": "homePhone", "VOICEMAIL_LDAP_ATTR_ID": "entryUUID",
           "VOICEMAIL_LDAP_ATTR_ACCOUNT_CONTROL": "", "VOICEMAIL_LDAP_ATTR_LOCKED": "nsAccountLock",
           "VOICEMAIL_LDAP_ATTR_CHANGED": "modifyTimestamp"}
    attrs = ldap_options(load_settings(environ=env)).attributes
    assert (attrs.phone, attrs.id, attrs.account_control, attrs.locked, attrs.changed) == (
        "homePhone", "entryUUID", "", "nsAccountLock", "modifyTimestamp")
    assert attrs.mail == "mail" and attrs.ip_phone == "ipPhone"  # the others keep AD's names


def test_the_ldap_password_is_a_masked_secret() -> None:
    settings = load_settings(environ={**LDAP, "VOICEMAIL_LDAP_BIND_DN": "svc-voicemail@agency.example",
                                      "VOICEMAIL_LDAP_PASSWORD": "hunter2"})
    assert settings.ldap_password == "hunter2"
    assert settings.redacted()["ldap_password"] == "********"
    assert "hunter2" not in repr(ldap_options(settings))


def test_number_plan_settings_come_from_the_environment() -> None:
    settings = load_settings(environ={"VOICEMAIL_PHONE_REGION": "us", "VOICEMAIL_EXTENSION_DIGITS": "4,5",
                                      "VOICEMAIL_DID_RANGES": "+12025551000-+12025551999=1000"})
    plan = number_plan(settings)
    assert (plan.region, plan.extension_digits) == ("US", (4, 5))
    assert plan.key("(202) 555-1234") == "1234"


@pytest.mark.parametrize(("env", "variable"), [
    ({"VOICEMAIL_LDAP_URL": "http://dc1"}, "VOICEMAIL_LDAP_URL"),
    ({"VOICEMAIL_LDAP_URL": "ldap://dc1:99999", "VOICEMAIL_LDAP_BASE_DN": "dc=x"}, "VOICEMAIL_LDAP_URL"),
    ({"VOICEMAIL_LDAP_URL": "ldaps://dc1/dc=x"}, "VOICEMAIL_LDAP_URL"),
    ({"VOICEMAIL_LDAP_URL": "ldaps://dc1"}, "VOICEMAIL_LDAP_BASE_DN"),
    ({**LDAP, "VOICEMAIL_LDAP_STARTTLS": "true"}, "VOICEMAIL_LDAP_STARTTLS"),  # ldaps + StartTLS
    ({**LDAP, "VOICEMAIL_LDAP_URL": "ldap://dc1", "VOICEMAIL_LDAP_BIND_DN": "cn=svc",
      "VOICEMAIL_LDAP_PASSWORD": "pw"}, "VOICEMAIL_LDAP_STARTTLS"),  # password in clear
    ({**LDAP, "VOICEMAIL_LDAP_BIND_DN": "cn=svc"}, "VOICEMAIL_LDAP_PASSWORD"),
    ({**LDAP, "VOICEMAIL_LDAP_FILTER": "objectClass=user"}, "VOICEMAIL_LDAP_FILTER"),
    ({**LDAP, "VOICEMAIL_LDAP_FILTER": "(&(objectClass=user)"}, "VOICEMAIL_LDAP_FILTER"),
    ({**LDAP, "VOICEMAIL_LDAP_AUTH": "ntlm"}, "VOICEMAIL_LDAP_AUTH"),
    ({**LDAP, "VOICEMAIL_LDAP_PAGE_SIZE": "0"}, "VOICEMAIL_LDAP_PAGE_SIZE"),
    ({**LDAP, "VOICEMAIL_LDAP_ATTR_ID": ""}, "VOICEMAIL_LDAP_ATTR_ID"),
    ({**LDAP, "VOICEMAIL_LDAP_ATTR_PHONE": "phone)(x=*"}, "VOICEMAIL_LDAP_ATTR_"),
    ({**LDAP, "VOICEMAIL_DIRECTORY_MAX_AGE": "0"}, "VOICEMAIL_DIRECTORY_MAX_AGE"),
    ({"VOICEMAIL_LDAP_SYNC_INTERVAL": "-1"}, "VOICEMAIL_LDAP_SYNC_INTERVAL"),
    ({"VOICEMAIL_PHONE_REGION": "Mars"}, "VOICEMAIL_PHONE_REGION"),
    ({"VOICEMAIL_DID_RANGES": "12025551000-12025551999=1000"}, "VOICEMAIL_DID_RANGES"),
])
def test_bad_directory_settings_name_their_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(environ=env)


def test_the_beat_schedule_has_a_directory_sync_only_with_ldap() -> None:
    from workers.celery_app import configure

    with_ldap = configure(load_settings(environ={**LDAP, "VOICEMAIL_LDAP_SYNC_INTERVAL": "600"}))
    assert with_ldap.conf.beat_schedule["directory-sync"] == {"task": "workers.tasks.directory_sync",
                                                              "schedule": 600.0}
    assert "directory-sync" not in configure(load_settings(environ={}, )).conf.beat_schedule
    assert "directory-sync" not in configure(
        load_settings(environ={**LDAP, "VOICEMAIL_LDAP_SYNC_INTERVAL": "0"})).conf.beat_schedule


def test_the_composition_root_picks_the_synced_directory_when_ldap_url_is_set(tmp_path: Path) -> None:
    from voicemail.app import load_directory
    from voicemail.db.engine import make_engine, make_sessionmaker
    from voicemail.directory import CsvDirectory, EmptyDirectory
    from voicemail.directory.db_directory import DbDirectory

    csv = tmp_path / "d.csv"
    csv.write_text("number,name,email\n1001,A,a@x\n", encoding="utf-8")
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    reads = make_sessionmaker(engine)
    assert isinstance(load_directory(load_settings(environ={**LDAP, "VOICEMAIL_DIRECTORY_FILE": str(csv)}), reads),
                      DbDirectory)
    assert isinstance(load_directory(load_settings(environ={"VOICEMAIL_DIRECTORY_FILE": str(csv)}), reads),
                      CsvDirectory)
    assert isinstance(load_directory(load_settings(environ={})), EmptyDirectory)
    with pytest.raises(ConfigError, match="VOICEMAIL_LDAP_URL"):
        load_directory(load_settings(environ=LDAP))  # no database given
    engine.dispose()


def test_the_0003_migration_matches_the_models_and_downgrades(tmp_path: Path) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect

    from voicemail.db.engine import make_engine
    from voicemail.db.migrate import alembic_config, upgrade
    from voicemail.db.models import Base

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "directory" in repr(d)] == []
    assert {"directory_users", "directory_numbers", "directory_sync_state"} <= set(inspect(engine).get_table_names())

    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    assert "directory_users" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "directory_users" in inspect(engine).get_table_names()
    engine.dispose()
