"""From an LDAP entry (raw attribute bytes) to a DirectoryUser, through the site's attribute map. Pure.

Defaults are Active Directory's attribute names; each one is overridable (OpenLDAP / FreeIPA use
entryUUID, uid, modifyTimestamp, nsAccountLock …). Values from the directory are treated as untrusted
text: invalid UTF-8 or control characters drop the value; over-long values are cut to the column size.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from voicemail.directory.records import DirectoryUser

ACCOUNTDISABLE = 0x2  # userAccountControl bit: the account is disabled
BINARY_ID_ATTRIBUTES = frozenset({"objectguid", "objectsid", "msds-objectguid"})
LIMITS = {"dn": 1000, "account": 256, "name": 200, "email": 320, "employee_id": 64, "office": 200,
          "number": 64, "change_mark": 64, "ext_id": 128}


@dataclass(frozen=True)
class AttributeMap:
    """LDAP attribute names. An empty name means "not used" (only account_control, locked, changed and the
    descriptive ones may be empty; id may not)."""

    id: str = "objectGUID"
    account: str = "sAMAccountName"
    name: str = "displayName"
    mail: str = "mail"
    phone: str = "telephoneNumber"
    ip_phone: str = "ipPhone"
    mobile: str = "mobile"
    employee_id: str = "employeeID"
    office: str = "physicalDeliveryOfficeName"
    account_control: str = "userAccountControl"
    locked: str = ""
    changed: str = "uSNChanged"

    def requested(self) -> list[str]:
        """The attributes to ask the server for (each once)."""
        names: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value and value.lower() not in (n.lower() for n in names):
                names.append(value)
        return names

    @property
    def numeric_changes(self) -> bool:
        """uSNChanged is an integer counter; every other change attribute is a GeneralizedTime."""
        return self.changed.lower() == "usnchanged"


def map_entry(dn: str, raw: Mapping[str, Sequence[bytes]], attrs: AttributeMap) -> DirectoryUser | None:
    """The user of one entry, or None if it has no usable id (it is then skipped and counted)."""
    values = {key.lower(): list(vals) for key, vals in raw.items()}

    def texts(attr: str, limit: int) -> list[str]:
        if not attr:
            return []
        out: list[str] = []
        for blob in values.get(attr.lower(), []):
            text = _text(blob)
            if text:
                out.append(text[:limit])
        return out

    def first(attr: str, limit: int) -> str:
        found = texts(attr, limit)
        return found[0] if found else ""

    ext_id = _identifier(attrs.id, values.get(attrs.id.lower(), []))
    if not ext_id:
        return None
    numbers: list[tuple[str, str]] = []
    for kind, attr in (("phone", attrs.phone), ("ip_phone", attrs.ip_phone), ("mobile", attrs.mobile)):
        for value in texts(attr, LIMITS["number"]):
            if (kind, value) not in numbers:
                numbers.append((kind, value))
    return DirectoryUser(
        ext_id=ext_id,
        dn=dn[: LIMITS["dn"]],
        account=first(attrs.account, LIMITS["account"]),
        name=first(attrs.name, LIMITS["name"]),
        email=first(attrs.mail, LIMITS["email"]),
        employee_id=first(attrs.employee_id, LIMITS["employee_id"]),
        office=first(attrs.office, LIMITS["office"]),
        numbers=tuple(numbers),
        enabled=_enabled(attrs, values),
        change_mark=first(attrs.changed, LIMITS["change_mark"]),
    )


def _enabled(attrs: AttributeMap, values: Mapping[str, list[bytes]]) -> bool:
    """Fail closed: an account-control attribute that is configured but missing or unreadable means
    disabled; a lock attribute (nsAccountLock) that says TRUE means disabled."""
    if attrs.account_control:
        found = values.get(attrs.account_control.lower(), [])
        try:
            flags = int(found[0].decode("ascii").strip()) if found else None
        except (UnicodeDecodeError, ValueError):
            flags = None
        if flags is None or flags & ACCOUNTDISABLE:
            return False
    if attrs.locked:
        for blob in values.get(attrs.locked.lower(), []):
            if blob.strip().upper() in (b"TRUE", b"1", b"YES"):
                return False
    return True


def _identifier(attr: str, found: Sequence[bytes]) -> str:
    if not found or not found[0]:
        return ""
    blob = found[0]
    if attr.lower() in BINARY_ID_ATTRIBUTES:
        return blob.hex()[: LIMITS["ext_id"]]
    return _text(blob)[: LIMITS["ext_id"]]


def _text(blob: bytes) -> str:
    try:
        text = blob.decode("utf-8").strip()
    except UnicodeDecodeError:
        return ""
    if text.isprintable():  # the common case, in C; it also rejects spaces other than ' ', hence the check below
        return text
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        return ""
    return text


def entry_id(raw: Mapping[str, Sequence[bytes]], attrs: AttributeMap) -> str:
    """Only the id of an entry (the id-only pass of an incremental sync); empty if it has none."""
    wanted = attrs.id.lower()
    for key, vals in raw.items():
        if key.lower() == wanted:
            return _identifier(attrs.id, list(vals))
    return ""
