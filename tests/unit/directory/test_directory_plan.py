"""NumberPlan: phonenumbers normalisation plus the site's extensions and DID ranges."""

from __future__ import annotations

import pytest

from voicemail.directory.plan import DidRange, NumberPlan
from voicemail.domain.errors import ConfigError

SITE = NumberPlan.from_strings("US", ("4",), ("+12025551000-+12025551999=1000",))


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("1001", "1001"),  # an extension, as dialled
        ("+1 202 555 1001", "1001"),  # a DID inside the range reaches the extension
        ("(202) 555-1001", "1001"),  # national format, region US
        ("1-202-555-1001", "1001"),
        ("12025551001", "1001"),
        ("202.555.1999", "1999"),  # last number of the range
        ("+12025551000", "1000"),  # first number of the range
        ("+12025550999", "+12025550999"),  # just below the range: an outside number in E.164
        ("+12025552000", "+12025552000"),  # just above
        ("011 44 20 7946 0000", "+442079460000"),  # the US international prefix
        ("+44 20 7946 0000", "+442079460000"),
        ("5551001", "5551001"),  # a local-only number cannot be E.164: kept as digits
        ("911", "911"),  # a short code
        ("+1001", "+1001"),  # not a possible number: kept, matches nobody
    ],
)
def test_the_site_plan_gives_one_key_per_person(raw: str, key: str) -> None:
    assert SITE.key(raw) == key


@pytest.mark.parametrize("raw", ["", "anonymous", "1001;x", "*98", "10#01", "+1+202", "\u0661\u0660\u0660\u0661"])
def test_things_that_are_not_numbers_have_no_key(raw: str) -> None:
    assert SITE.key(raw) is None


def test_without_a_region_national_formats_stay_digits_and_e164_is_normalised() -> None:
    plain = NumberPlan()
    assert plain.key("(202) 555-1001") == "2025551001"
    assert plain.key("+1 (202) 555-1001") == "+12025551001"
    assert plain.key("1001") == "1001"


def test_other_extension_widths_are_kept_with_leading_zeros() -> None:
    plan = NumberPlan.from_strings("GB", ("3",), ("+442079460000-+442079460999=000",))
    assert plan.key("+44 20 7946 0042") == "042"
    assert plan.key("020 7946 0042") == "042"  # national format with the trunk prefix 0
    assert plan.key("042") == "042"


@pytest.mark.parametrize(
    ("region", "digits", "ranges", "setting"),
    [
        ("XX", (), (), "VOICEMAIL_PHONE_REGION"),
        ("", ("four",), (), "VOICEMAIL_EXTENSION_DIGITS"),
        ("", ("12",), (), "VOICEMAIL_EXTENSION_DIGITS"),
        ("", (), ("+12025551000+12025551999=1000",), "VOICEMAIL_DID_RANGES"),
        ("", (), ("+12025551999-+12025551000=1000",), "VOICEMAIL_DID_RANGES"),  # backwards
        ("", (), ("+12025551000-+120255519999=1000",), "VOICEMAIL_DID_RANGES"),  # lengths differ
        ("", (), ("+12025551000-+12025551999=900",), "VOICEMAIL_DID_RANGES"),  # 1000 numbers, 3-digit extensions
        ("", (), ("+12025551000-+12025551999=ab",), "VOICEMAIL_DID_RANGES"),
        ("", (), ("+12025551000-+12025551999=1000", "+12025551500-+12025551599=2000"), "VOICEMAIL_DID_RANGES"),
        ("", (), ("+12025551000-+44202555100=1000",), "VOICEMAIL_DID_RANGES"),  # two countries
    ],
)
def test_a_bad_plan_is_a_configuration_error_naming_the_setting(
        region: str, digits: tuple[str, ...], ranges: tuple[str, ...], setting: str) -> None:
    with pytest.raises(ConfigError, match=setting):
        NumberPlan.from_strings(region, digits, ranges)


def test_the_fingerprint_changes_with_the_plan_and_only_then() -> None:
    same = NumberPlan.from_strings("us", ("4", "4"), ("+12025551000-+12025551999=1000",))
    assert same.fingerprint() == SITE.fingerprint()
    assert NumberPlan.from_strings("US", ("4",), ()).fingerprint() != SITE.fingerprint()
    assert NumberPlan.from_strings("CA", ("4",), ("+12025551000-+12025551999=1000",)).fingerprint() \
        != SITE.fingerprint()


def test_a_did_range_maps_by_offset() -> None:
    did = DidRange.parse("+12025551000-+12025551099=2100")
    assert did.extension("12025551000") == "2100"
    assert did.extension("12025551099") == "2199"
    assert did.extension("12025551100") is None
    assert did.extension("442025551000") is None
