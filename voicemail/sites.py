"""The Asterisk servers (sites) one installation serves: each has a name, an AMI endpoint and a spool.

The default site is the one the single-site settings describe (site_name, ami_*, spool_dir); more sites
come from the config file's ``[[sites]]`` array of tables, or from ``VOICEMAIL_SITES`` (comma-separated
names). Every field of a further site may be set or overridden in the environment as
``VOICEMAIL_SITE_<NAME>_<FIELD>`` (NAME upper-cased, other characters
than letters and digits as ``_``), e.g. ``VOICEMAIL_SITE_BRANCH_AMI_SECRET``.

A process serves one site at a time: ``Settings.for_site(name)`` is the single-site view of a site (its
name in site_name, its AMI endpoint in ami_*, its spool in spool_dir), so the listener, the custody
workers and everything they build work unchanged for any site.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from voicemail.domain.errors import ConfigError

DEFAULT_SITE = "default"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# The single-site settings a site replaces in Settings.for_site (the same names, the same meaning).
SITE_FIELDS = ("ami_host", "ami_port", "ami_username", "ami_secret", "ami_tls", "ami_tls_ca_file",
               "ami_tls_verify", "ami_allow_plaintext_remote", "spool_dir")
# "Play on my phone" and the telephone menu on a site: empty = the single-site setting of the same name.
SITE_PHONE_FIELDS = ("phone_device_template", "phone_staging_dir")


@dataclass(frozen=True)
class Site:
    """One Asterisk server: its name, its AMI endpoint, and its spool as this site's workers see it."""

    name: str
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "voicemail"
    ami_secret: str = ""
    ami_tls: bool = False
    ami_tls_ca_file: str = ""
    ami_tls_verify: bool = True
    ami_allow_plaintext_remote: bool = False
    spool_dir: str = "/var/spool/asterisk/voicemail"
    phone_device_template: str = ""  # its owners' phones (e.g. PJSIP/{mailbox}); empty: the global one
    phone_staging_dir: str = ""  # staging files its Asterisk plays, as both it and this host see them

    def __repr__(self) -> str:  # the secret never reaches a log line or a traceback
        return f"Site(name={self.name!r}, ami_host={self.ami_host!r}, ami_port={self.ami_port})"


def check_site_name(name: str, where: str) -> str:
    """A site name: 1 to 64 letters, digits, ``-`` or ``_`` (it names a queue and a lease)."""
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: site name {name[:70]!r} must be 1 to 64 letters, digits, ., - or _ "
                          "(starting with a letter or digit)")
    return name


def site_env_prefix(name: str) -> str:
    """``VOICEMAIL_SITE_<NAME>_``: where the environment overrides one site's fields."""
    return "VOICEMAIL_SITE_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_"


def parse_sites(raw: Any, environ: Mapping[str, str], coerce: Any) -> tuple[Site, ...]:
    """The ``[[sites]]`` tables of the config file, with their environment overrides, as Sites.

    ``coerce(name, type, raw)`` converts one value as the flat settings are converted (config._coerce)."""
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError("setting sites: expected an array of tables ([[sites]] with name = ..., ami_host = ...)")
    known = {f.name: f.type for f in fields(Site)}
    sites = []
    for number, table in enumerate(raw, 1):
        where = f"[[sites]] #{number}"
        name = table.get("name")
        if not isinstance(name, str):
            raise ConfigError(f"{where}: needs name = \"...\"")
        check_site_name(name, where)
        values: dict[str, Any] = {"name": name}
        for key, value in table.items():
            if key not in known:
                raise ConfigError(f"{where} ({name}): unknown field {key!r} (known: {', '.join(known)})")
            if key != "name":
                values[key] = coerce(f"sites.{name}.{key}", known[key], value)
        prefix = site_env_prefix(name)
        for key in (*SITE_FIELDS, *SITE_PHONE_FIELDS):
            if (value := environ.get(prefix + key.upper())) is not None:
                values[key] = coerce(f"sites.{name}.{key}", known[key], value)
        sites.append(Site(**values))
    return tuple(sites)
