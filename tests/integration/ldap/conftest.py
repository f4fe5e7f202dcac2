"""Fixtures: a real slapd per test (about 0.2 s with 300 users), settings that point at it, a database."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.integration.ldap.slapd import (
    PEOPLE,
    READER_DN,
    READER_PASSWORD,
    Slapd,
    Tls,
    make_tls,
    slapd_binary,
    user_ldif,
)
from tests.requirements import missing
from voicemail.config import Settings, load_settings
from voicemail.db.directory_store import SqlDirectoryStore
from voicemail.db.engine import make_engine, make_sessionmaker
from voicemail.db.migrate import upgrade
from voicemail.directory.from_settings import directory_sync, number_plan
from voicemail.directory.sync import DirectorySync

USERS = 300
PAGE_LIMIT = 100  # the server refuses pages larger than this, and unpaged searches return at most this


@pytest.fixture(scope="session", autouse=True)
def _slapd_installed() -> None:
    """Every test here runs a real OpenLDAP server (Debian's slapd; slapadd loads its users)."""
    if slapd_binary() is None:
        missing("OpenLDAP's slapd and slapadd", "apt-get install slapd ldap-utils")


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("ldap-tls"))


@contextmanager
def running_slapd(folder: Path, tls: Tls) -> Iterator[Slapd]:
    server = Slapd(folder / "slapd", tls, page_limit=PAGE_LIMIT)
    server.load(user_ldif(USERS))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def slapd(tmp_path: Path, tls: Tls) -> Iterator[Slapd]:
    with running_slapd(tmp_path, tls) as server:
        yield server


def ldap_env(server: Slapd, tmp_path: Path) -> dict[str, str]:
    """The environment for OpenLDAP (entryUUID, modifyTimestamp) over StartTLS, with the tests' number plan."""
    return {
        "VOICEMAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'directory.db'}",
        "VOICEMAIL_LDAP_URL": server.ldap_url,
        "VOICEMAIL_LDAP_STARTTLS": "true",
        "VOICEMAIL_LDAP_CA_FILE": str(server.tls.ca_file),
        "VOICEMAIL_LDAP_BIND_DN": READER_DN,
        "VOICEMAIL_LDAP_PASSWORD": READER_PASSWORD,
        "VOICEMAIL_LDAP_BASE_DN": PEOPLE,
        "VOICEMAIL_LDAP_FILTER": "(objectClass=inetOrgPerson)",
        "VOICEMAIL_LDAP_PAGE_SIZE": "25",
        "VOICEMAIL_LDAP_TIMEOUT": "5",
        "VOICEMAIL_LDAP_ATTR_ID": "entryUUID",
        "VOICEMAIL_LDAP_ATTR_CHANGED": "modifyTimestamp",
        "VOICEMAIL_PHONE_REGION": "US",
        "VOICEMAIL_EXTENSION_DIGITS": "4",
        "VOICEMAIL_DID_RANGES": "+12025551000-+12025551999=1000",
    }


def ldap_settings(server: Slapd, tmp_path: Path, **overrides: Any) -> Settings:
    settings = load_settings(environ=ldap_env(server, tmp_path))
    return dataclasses.replace(settings, **overrides) if overrides else settings


@dataclasses.dataclass
class Site:
    settings: Settings
    sessions: sessionmaker[Session]
    store: SqlDirectoryStore

    def sync(self, **overrides: Any) -> DirectorySync:
        settings = dataclasses.replace(self.settings, **overrides) if overrides else self.settings
        return directory_sync(settings, self.sessions)

    def directory(self, **kwargs: Any) -> Any:
        from voicemail.directory.db_directory import DbDirectory

        kwargs.setdefault("max_age", self.settings.directory_max_age)
        return DbDirectory(self.store, number_plan(self.settings), state_ttl=0, **kwargs)


@contextmanager
def make_site(server: Slapd, folder: Path) -> Iterator[Site]:
    settings = ldap_settings(server, folder)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    try:
        yield Site(settings, sessions, SqlDirectoryStore(sessions))
    finally:
        engine.dispose()


@pytest.fixture
def site(slapd: Slapd, tmp_path: Path) -> Iterator[Site]:
    with make_site(slapd, tmp_path) as made:
        yield made


@pytest.fixture(scope="module")
def synced_site(tmp_path_factory: pytest.TempPathFactory, tls: Tls) -> Iterator[Site]:
    """One server and one full sync shared by a module's read-only tests."""
    folder = tmp_path_factory.mktemp("synced")
    with running_slapd(folder, tls) as server, make_site(server, folder) as made:
        made.sync().run()
        yield made
