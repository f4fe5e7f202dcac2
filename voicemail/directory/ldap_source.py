"""Reading users from an LDAP directory (Active Directory, OpenLDAP, FreeIPA) with ldap3.

Transport: ``ldaps://`` (TLS from the first byte) or ``ldap://`` upgraded with StartTLS before the bind;
the server certificate and host name are always verified (against ``ca_file``, else the system CAs).
A simple bind with a password over a plain connection is refused at configuration time. Kerberos
(SASL GSSAPI) is supported through ldap3 when the ``gssapi`` package is installed and a ticket or keytab
is available (``KRB5CCNAME`` / ``KRB5_CLIENT_KTNAME``).

Searches are always paged (RFC 2696, critical: a server that cannot page fails instead of sending
everything at once) and yielded one page at a time, so memory stays bounded by the page size.
Every failure is a DirectoryUnavailable carrying a short reason (never the password).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from voicemail.directory.errors import DirectoryUnavailable
from voicemail.directory.ldap_mapping import AttributeMap
from voicemail.domain.errors import ConfigError

RawEntry = tuple[str, dict[str, list[bytes]]]
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"


@dataclass(frozen=True)
class LdapOptions:
    url: str
    base_dn: str
    search_filter: str = "(&(objectCategory=person)(objectClass=user))"
    bind_dn: str = ""
    password: str = field(default="", repr=False)
    auth: str = "simple"  # simple | gssapi
    starttls: bool = False
    ca_file: str = ""
    page_size: int = 500
    timeout: float = 15.0
    attributes: AttributeMap = field(default_factory=AttributeMap)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def tls(self) -> bool:
        return self.url.lower().startswith("ldaps://") or self.starttls

    def check(self) -> None:
        """ConfigError naming the setting for anything that cannot work or would be unsafe."""
        parts = urlsplit(self.url)
        if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.hostname or parts.path not in ("", "/"):
            raise ConfigError("setting ldap_url (VOICEMAIL_LDAP_URL): expected ldap://host[:port] or "
                              "ldaps://host[:port]")
        try:
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            raise ConfigError("setting ldap_url (VOICEMAIL_LDAP_URL): port out of range") from None
        if parts.scheme.lower() == "ldaps" and self.starttls:
            raise ConfigError("setting ldap_starttls (VOICEMAIL_LDAP_STARTTLS): ldaps:// is already TLS; "
                              "use StartTLS with ldap:// only")
        if not self.base_dn.strip():
            raise ConfigError("setting ldap_base_dn (VOICEMAIL_LDAP_BASE_DN): required with ldap_url")
        flt = self.search_filter.strip()
        if not (flt.startswith("(") and flt.endswith(")")) or flt.count("(") != flt.count(")"):
            raise ConfigError("setting ldap_filter (VOICEMAIL_LDAP_FILTER): expected a parenthesised LDAP "
                              "filter such as (objectClass=user)")
        if self.auth not in ("simple", "gssapi"):
            raise ConfigError("setting ldap_auth (VOICEMAIL_LDAP_AUTH): expected simple or gssapi")
        if self.auth == "simple" and self.password and not self.tls:
            raise ConfigError("setting ldap_starttls (VOICEMAIL_LDAP_STARTTLS): a password would cross the "
                              "network in clear; use ldaps:// or set ldap_starttls")
        if self.auth == "simple" and bool(self.bind_dn) != bool(self.password):
            raise ConfigError("setting ldap_password (VOICEMAIL_LDAP_PASSWORD): a bind DN needs a password "
                              "(and a password a bind DN); leave both empty for an anonymous bind")
        if not 1 <= self.page_size <= 10000:
            raise ConfigError("setting ldap_page_size (VOICEMAIL_LDAP_PAGE_SIZE): must be from 1 to 10000")
        if self.timeout <= 0:
            raise ConfigError("setting ldap_timeout (VOICEMAIL_LDAP_TIMEOUT): must be positive")
        if not self.attributes.id:
            raise ConfigError("setting ldap_attr_id (VOICEMAIL_LDAP_ATTR_ID): required (objectGUID, entryUUID …)")
        for name in self.attributes.requested():
            if not name.replace("-", "").replace(";", "").isalnum():
                raise ConfigError(f"setting ldap_attr_* (VOICEMAIL_LDAP_ATTR_*): not an attribute name: {name[:40]!r}")


class LdapSource:
    """One bound connection. Use as a context manager: ``with LdapSource(options) as source: ...``."""

    def __init__(self, options: LdapOptions) -> None:
        options.check()
        self._options = options
        self._conn: Any = None

    def __enter__(self) -> LdapSource:
        self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def connect(self) -> None:
        import ldap3
        from ldap3.core.exceptions import LDAPException

        o = self._options
        parts = urlsplit(o.url)
        use_ssl = parts.scheme.lower() == "ldaps"
        tls = None
        if o.tls:
            if o.ca_file and not Path(o.ca_file).is_file():
                raise ConfigError(f"setting ldap_ca_file (VOICEMAIL_LDAP_CA_FILE): no such file: {o.ca_file}")
            tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=o.ca_file or None)
        server = ldap3.Server(parts.hostname or "", port=parts.port or (636 if use_ssl else 389), use_ssl=use_ssl,
                              tls=tls, get_info=ldap3.NONE, connect_timeout=o.timeout)
        kwargs: dict[str, Any] = {"read_only": True, "raise_exceptions": True, "auto_referrals": False,
                                  "receive_timeout": max(1, math.ceil(o.timeout)),  # ldap3 wants whole seconds
                                  "auto_bind": ldap3.AUTO_BIND_NONE}
        if o.auth == "gssapi":
            if importlib.util.find_spec("gssapi") is None:
                raise ConfigError("setting ldap_auth (VOICEMAIL_LDAP_AUTH): gssapi needs the Python package "
                                  "'gssapi' (pip install gssapi) and a Kerberos ticket or keytab")
            kwargs.update(authentication=ldap3.SASL, sasl_mechanism=ldap3.KERBEROS)
        elif o.bind_dn:
            kwargs.update(user=o.bind_dn, password=o.password, authentication=ldap3.SIMPLE)
        else:
            kwargs.update(authentication=ldap3.ANONYMOUS)
        try:
            conn = ldap3.Connection(server, **kwargs)
            conn.open()
            if o.starttls:
                conn.start_tls()
            conn.bind()
        except LDAPException as exc:
            raise DirectoryUnavailable(f"cannot connect or bind to {o.host}: {_reason(exc)}") from None
        self._conn = conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection: nothing left to do
                self._conn.unbind()
            self._conn = None

    def server_identity(self) -> str:
        """Which server answers: AD's dsServiceName (uSNChanged is only meaningful on one domain
        controller), empty where the root DSE does not say (OpenLDAP)."""
        conn = self._require()
        try:
            conn.search("", "(objectClass=*)", search_scope="BASE", attributes=["dsServiceName"])
        except Exception as exc:
            raise DirectoryUnavailable(f"reading the root DSE of {self._options.host}: {_reason(exc)}") from None
        for entry in conn.response or []:
            raw = entry.get("raw_attributes", {})
            for key, vals in raw.items():
                if key.lower() == "dsservicename" and vals:
                    return bytes(vals[0]).decode("utf-8", "replace")
        return ""

    def pages(self, search_filter: str, attributes: list[str]) -> Iterator[list[RawEntry]]:
        """Entries under the base DN matching ``search_filter``, one page (list of (dn, raw attributes))
        at a time. Raises DirectoryUnavailable on any failure, including half-way."""
        conn = self._require()
        o = self._options
        cookie: bytes | None = None
        while True:
            try:
                conn.search(o.base_dn, search_filter, search_scope="SUBTREE", attributes=attributes,
                            paged_size=o.page_size, paged_criticality=True, paged_cookie=cookie)
            except Exception as exc:
                raise DirectoryUnavailable(f"searching {o.host}: {_reason(exc)}") from None
            page: list[RawEntry] = []
            for entry in conn.response or []:
                if entry.get("type") != "searchResEntry":
                    continue  # referrals (AD's DomainDnsZones …) are not followed
                raw = {key: [bytes(v) for v in vals] for key, vals in entry.get("raw_attributes", {}).items()}
                page.append((str(entry.get("dn", "")), raw))
            conn.response = None
            yield page
            controls = (conn.result or {}).get("controls") or {}
            cookie = controls.get(PAGED_RESULTS_OID, {}).get("value", {}).get("cookie") or None
            if not cookie:
                return

    def _require(self) -> Any:
        if self._conn is None:
            raise DirectoryUnavailable("not connected")
        return self._conn


def _reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    if "doesn't match any name" in text:  # ldap3 prints the whole peer certificate here
        return "TLS: the server certificate doesn't match the host name in ldap_url"
    return text[:300]
