"""map_entry: raw LDAP attributes -> DirectoryUser through the attribute map (AD defaults, overrides)."""

from __future__ import annotations

import uuid

import pytest

from voicemail.directory.ldap_mapping import AttributeMap, entry_id, map_entry

GUID = uuid.UUID("6f1e0b6a-3c2d-4e5f-8a9b-0c1d2e3f4a5b")
AD = AttributeMap()
OPENLDAP = AttributeMap(id="entryUUID", account="uid", account_control="", changed="modifyTimestamp")
FREEIPA = AttributeMap(id="ipaUniqueID", account="uid", account_control="", locked="nsAccountLock",
                       changed="modifyTimestamp")


def ad_entry(**extra: list[bytes]) -> dict[str, list[bytes]]:
    raw = {
        "objectGUID": [GUID.bytes_le],
        "sAMAccountName": [b"jdoe"],
        "displayName": ["Jos\u00e9 Doe".encode()],
        "mail": [b"jdoe@agency.example"],
        "telephoneNumber": [b"+1 (202) 555-1001"],
        "ipPhone": [b"1001"],
        "mobile": [b"+1 301 555 0001"],
        "employeeID": [b"SEID42"],
        "physicalDeliveryOfficeName": [b"HQ 4th floor"],
        "userAccountControl": [b"512"],
        "uSNChanged": [b"987654"],
    }
    raw.update(extra)
    return raw


def test_an_active_directory_user_maps_with_the_default_names() -> None:
    user = map_entry("CN=Jos\u00e9 Doe,OU=Staff,DC=agency,DC=example", ad_entry(), AD)

    assert user is not None
    assert user.ext_id == GUID.bytes_le.hex()  # objectGUID is binary: stored as hex
    assert (user.account, user.name, user.email, user.employee_id, user.office) == (
        "jdoe", "Jos\u00e9 Doe", "jdoe@agency.example", "SEID42", "HQ 4th floor")
    assert user.numbers == (("phone", "+1 (202) 555-1001"), ("ip_phone", "1001"), ("mobile", "+1 301 555 0001"))
    assert user.enabled and user.change_mark == "987654"


def test_attribute_names_match_case_insensitively() -> None:
    raw = {k.lower(): v for k, v in ad_entry().items()}
    user = map_entry("cn=x", raw, AD)
    assert user is not None and user.name == "Jos\u00e9 Doe" and user.enabled


@pytest.mark.parametrize(("flags", "enabled"), [
    (b"512", True),  # NORMAL_ACCOUNT
    (b"66048", True),  # + DONT_EXPIRE_PASSWORD
    (b"514", False),  # + ACCOUNTDISABLE
    (b"66050", False),
    (b"2", False),
    (b"not a number", False),  # unreadable: fail closed
])
def test_user_account_control_bit_2_disables(flags: bytes, enabled: bool) -> None:
    user = map_entry("cn=x", ad_entry(userAccountControl=[flags]), AD)
    assert user is not None and user.enabled is enabled


def test_a_configured_account_control_attribute_that_is_missing_means_disabled() -> None:
    raw = ad_entry()
    del raw["userAccountControl"]
    user = map_entry("cn=x", raw, AD)
    assert user is not None and not user.enabled


def test_openldap_without_account_control_maps_enabled_users() -> None:
    raw = {"entryUUID": [b"5fb7194a-8082-1041-84a4-532709bd28dd"], "uid": [b"jdoe"], "displayName": [b"J Doe"],
           "modifyTimestamp": [b"20261130101500Z"]}
    user = map_entry("uid=jdoe,ou=people,dc=example,dc=test", raw, OPENLDAP)
    assert user is not None
    assert (user.ext_id, user.account, user.enabled, user.change_mark) == (
        "5fb7194a-8082-1041-84a4-532709bd28dd", "jdoe", True, "20261130101500Z")


@pytest.mark.parametrize(("lock", "enabled"), [(b"TRUE", False), (b"true", False), (b"FALSE", True)])
def test_freeipa_ns_account_lock_disables(lock: bytes, enabled: bool) -> None:
    raw = {"ipaUniqueID": [b"a1b2"], "uid": [b"jdoe"], "displayName": [b"J Doe"], "nsAccountLock": [lock]}
    user = map_entry("uid=jdoe", raw, FREEIPA)
    assert user is not None and user.enabled is enabled


def test_an_entry_without_the_id_attribute_is_skipped() -> None:
    raw = ad_entry()
    del raw["objectGUID"]
    assert map_entry("cn=x", raw, AD) is None
    assert entry_id(raw, AD) == ""
    assert entry_id(ad_entry(), AD) == GUID.bytes_le.hex()


def test_hostile_values_are_dropped_not_stored() -> None:
    user = map_entry("cn=x", ad_entry(displayName=[b"Eve\r\nBcc: victim@example.test"],
                                      mail=[b"\xff\xfe not utf-8"],
                                      telephoneNumber=[b"+1 202 555 1001", "1002\u202e".encode()]), AD)
    assert user is not None
    assert user.name == "" and user.email == ""  # a nameless user is never classified internal
    assert ("phone", "+1 202 555 1001") in user.numbers and len([n for n in user.numbers if n[0] == "phone"]) == 1


def test_over_long_values_are_cut_to_the_column_size() -> None:
    user = map_entry("cn=x", ad_entry(displayName=[b"N" * 5000]), AD)
    assert user is not None and len(user.name) == 200


def test_multi_valued_phone_attributes_keep_every_value_once() -> None:
    user = map_entry("cn=x", ad_entry(telephoneNumber=[b"1001", b"1002", b"1001"]), AD)
    assert user is not None
    assert [v for kind, v in user.numbers if kind == "phone"] == ["1001", "1002"]


def test_requested_attributes_are_each_asked_once_and_unused_ones_not_at_all() -> None:
    names = AttributeMap(mobile="", office="telephoneNumber").requested()
    assert names.count("telephoneNumber") == 1
    assert "" not in names and "mobile" not in names
    assert AD.numeric_changes and not OPENLDAP.numeric_changes
