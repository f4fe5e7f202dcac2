"""Builds the directory's pieces from Settings (used by config validation, app.py, the CLI and workers).

Every error is a ConfigError that names the setting and its environment variable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from voicemail.directory.ldap_mapping import AttributeMap
from voicemail.directory.ldap_source import LdapOptions
from voicemail.directory.plan import NumberPlan
from voicemail.domain.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from voicemail.db.directory_store import SqlDirectoryStore
    from voicemail.directory.db_directory import DbDirectory
    from voicemail.directory.sync import DirectorySync


class DirectorySettings(Protocol):
    """The settings the directory is built from (voicemail.config.Settings has them all; this module does
    not import voicemail.config, which imports it to check them)."""

    @property
    def phone_region(self) -> str: ...
    @property
    def extension_digits(self) -> tuple[str, ...]: ...
    @property
    def did_ranges(self) -> tuple[str, ...]: ...
    @property
    def ldap_url(self) -> str: ...
    @property
    def ldap_base_dn(self) -> str: ...
    @property
    def ldap_filter(self) -> str: ...
    @property
    def ldap_bind_dn(self) -> str: ...
    @property
    def ldap_password(self) -> str: ...
    @property
    def ldap_auth(self) -> str: ...
    @property
    def ldap_starttls(self) -> bool: ...
    @property
    def ldap_ca_file(self) -> str: ...
    @property
    def ldap_page_size(self) -> int: ...
    @property
    def ldap_timeout(self) -> float: ...
    @property
    def ldap_attr_id(self) -> str: ...
    @property
    def ldap_attr_account(self) -> str: ...
    @property
    def ldap_attr_name(self) -> str: ...
    @property
    def ldap_attr_mail(self) -> str: ...
    @property
    def ldap_attr_phone(self) -> str: ...
    @property
    def ldap_attr_ip_phone(self) -> str: ...
    @property
    def ldap_attr_mobile(self) -> str: ...
    @property
    def ldap_attr_employee_id(self) -> str: ...
    @property
    def ldap_attr_office(self) -> str: ...
    @property
    def ldap_attr_account_control(self) -> str: ...
    @property
    def ldap_attr_locked(self) -> str: ...
    @property
    def ldap_attr_changed(self) -> str: ...
    @property
    def ldap_sync_interval(self) -> float: ...
    @property
    def ldap_full_sync_interval(self) -> float: ...
    @property
    def directory_max_age(self) -> float: ...


def number_plan(settings: DirectorySettings) -> NumberPlan:
    return NumberPlan.from_strings(settings.phone_region, settings.extension_digits, settings.did_ranges)


def ldap_options(settings: DirectorySettings) -> LdapOptions:
    s = settings
    attributes = AttributeMap(
        id=s.ldap_attr_id.strip(), account=s.ldap_attr_account.strip(), name=s.ldap_attr_name.strip(),
        mail=s.ldap_attr_mail.strip(), phone=s.ldap_attr_phone.strip(), ip_phone=s.ldap_attr_ip_phone.strip(),
        mobile=s.ldap_attr_mobile.strip(), employee_id=s.ldap_attr_employee_id.strip(),
        office=s.ldap_attr_office.strip(), account_control=s.ldap_attr_account_control.strip(),
        locked=s.ldap_attr_locked.strip(), changed=s.ldap_attr_changed.strip())
    options = LdapOptions(url=s.ldap_url.strip(), base_dn=s.ldap_base_dn.strip(), search_filter=s.ldap_filter.strip(),
                          bind_dn=s.ldap_bind_dn.strip(), password=s.ldap_password, auth=s.ldap_auth.strip().lower(),
                          starttls=s.ldap_starttls, ca_file=s.ldap_ca_file.strip(), page_size=s.ldap_page_size,
                          timeout=s.ldap_timeout, attributes=attributes)
    options.check()
    return options


def check_directory_settings(settings: DirectorySettings) -> None:
    """Called by config validation: every directory setting that can be checked without the network."""
    number_plan(settings)
    if settings.ldap_url:
        ldap_options(settings)
    for name in ("ldap_sync_interval", "ldap_full_sync_interval", "directory_max_age"):
        if getattr(settings, name) < 0:
            raise ConfigError(f"setting {name} (VOICEMAIL_{name.upper()}): must not be negative")
    if settings.ldap_url and settings.directory_max_age <= 0:
        raise ConfigError("setting directory_max_age (VOICEMAIL_DIRECTORY_MAX_AGE): must be positive with ldap_url")


def directory_store(sessions: sessionmaker[Session], reads: sessionmaker[Session] | None = None) -> SqlDirectoryStore:
    from voicemail.db.directory_store import SqlDirectoryStore

    return SqlDirectoryStore(sessions, reads)


def db_directory(settings: DirectorySettings, reads: sessionmaker[Session]) -> DbDirectory:
    """The Directory port for LDAP sites: lookups in the synced copy, trusted for directory_max_age."""
    from voicemail.directory.db_directory import DbDirectory

    return DbDirectory(directory_store(reads), number_plan(settings), max_age=settings.directory_max_age)


def directory_sync(settings: DirectorySettings, sessions: sessionmaker[Session]) -> DirectorySync:
    if not settings.ldap_url:
        raise ConfigError("setting ldap_url (VOICEMAIL_LDAP_URL): no directory server configured")
    from voicemail.directory.sync import DirectorySync

    return DirectorySync(directory_store(sessions), number_plan(settings), ldap_options(settings),
                         full_interval=settings.ldap_full_sync_interval)
