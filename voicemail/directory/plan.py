"""The site's number plan: one canonical key per phone number, for storing and for looking up.

``NumberPlan.key(raw)``:

1. Separators are stripped (``normalize_number``); anything that is then not a plain number (letters,
   ``*``, ``#``, a ``+`` inside, empty) is nobody: None.
2. Digits only, no ``+``, and one of the site's extension lengths: an internal extension, kept as dialled.
3. Otherwise ``phonenumbers`` parses it in the default region (national formats such as ``(202) 555-1001``
   need a region; ``+1 202 555 1001`` and international prefixes such as ``011 44 …`` do not). A number
   that is possible for its country (its length fits; ``is_possible_number``, which does not depend on
   number-allocation metadata, so keys stay stable across library updates) becomes E.164, and an E.164
   number inside a DID range becomes the extension that range reaches.
4. Anything else (a short code, a number with no region to read it in) stays as its digits, which is the
   foundation's behaviour for sites without a plan.

So with region US, 4-digit extensions and the DID range ``+12025551000-+12025551999=1000``, the keys of
``1001``, ``+1 202 555 1001``, ``(202) 555-1001`` and ``1-202-555-1001`` are all ``1001``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from voicemail.directory.numbers import normalize_number
from voicemail.domain.errors import ConfigError


@dataclass(frozen=True)
class DidRange:
    """E.164 numbers FIRST..LAST (same length) reach extensions EXT.. in order: FIRST -> EXT."""

    first: int
    last: int
    length: int  # digits of FIRST / LAST (without '+')
    ext_first: int
    ext_width: int

    @classmethod
    def parse(cls, text: str) -> DidRange:
        """``+12025551000-+12025551999=1000``. Raises ValueError with a reason."""
        span, sep, ext = text.strip().partition("=")
        first_raw, dash, last_raw = span.partition("-+")
        if not sep or not dash:
            raise ValueError(f"expected FIRST-LAST=EXTENSION (e.g. +12025551000-+12025551999=1000), got {text!r}")
        first, last = _e164_digits(first_raw), _e164_digits("+" + last_raw)
        ext = ext.strip()
        if first is None or last is None:
            raise ValueError(f"DID range {text!r}: FIRST and LAST must be +E.164 numbers")
        if phonenumbers.parse("+" + first).country_code != phonenumbers.parse("+" + last).country_code:
            raise ValueError(f"DID range {text!r}: FIRST and LAST must be in the same country")
        if len(first) != len(last) or int(last) < int(first):
            raise ValueError(f"DID range {text!r}: LAST must have FIRST's length and not be smaller")
        if not ext.isdigit():
            raise ValueError(f"DID range {text!r}: EXTENSION must be digits")
        span_size = int(last) - int(first)
        if len(str(int(ext) + span_size)) > len(ext):
            raise ValueError(f"DID range {text!r}: the range is larger than the extensions from {ext} "
                             f"of {len(ext)} digits")
        return cls(int(first), int(last), len(first), int(ext), len(ext))

    def extension(self, e164_digits: str) -> str | None:
        if len(e164_digits) != self.length:
            return None
        value = int(e164_digits)
        if not self.first <= value <= self.last:
            return None
        return str(self.ext_first + value - self.first).zfill(self.ext_width)

    def overlaps(self, other: DidRange) -> bool:
        return self.length == other.length and self.first <= other.last and other.first <= self.last


def _e164_digits(raw: str) -> str | None:
    compact = normalize_number(raw)
    if compact is None or not compact.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(compact, None)
    except NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:]


class NumberPlan:
    def __init__(self, region: str = "", extension_digits: tuple[int, ...] = (),
                 did_ranges: tuple[DidRange, ...] = ()) -> None:
        self.region = region.upper()
        self.extension_digits = tuple(sorted(set(extension_digits)))
        self.did_ranges = did_ranges

    @classmethod
    def from_strings(cls, region: str, extension_digits: tuple[str, ...], did_ranges: tuple[str, ...]) -> NumberPlan:
        """Build from settings. ConfigError names the setting (phone_region, extension_digits, did_ranges)."""
        region = region.strip().upper()
        if region and region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"setting phone_region (VOICEMAIL_PHONE_REGION): unknown region {region[:8]!r} "
                              "(an ISO 3166 code such as US, GB, DE)")
        lengths: list[int] = []
        for item in extension_digits:
            if not item.isdigit() or not 1 <= int(item) <= 8:
                raise ConfigError(f"setting extension_digits (VOICEMAIL_EXTENSION_DIGITS): {item[:12]!r} is not "
                                  "a length from 1 to 8")
            lengths.append(int(item))
        ranges: list[DidRange] = []
        for item in did_ranges:
            try:
                parsed = DidRange.parse(item)
            except ValueError as exc:
                raise ConfigError(f"setting did_ranges (VOICEMAIL_DID_RANGES): {exc}") from None
            if any(parsed.overlaps(known) for known in ranges):
                raise ConfigError(f"setting did_ranges (VOICEMAIL_DID_RANGES): {item!r} overlaps another range")
            ranges.append(parsed)
        return cls(region, tuple(lengths), tuple(ranges))

    def key(self, raw: str) -> str | None:
        """The canonical key of ``raw`` (see the module docstring), or None for something not a number."""
        compact = normalize_number(raw)
        if compact is None:
            return None
        if not compact.startswith("+") and len(compact) in self.extension_digits:
            return compact
        if not compact.startswith("+") and not self.region:
            return compact
        if compact.startswith("+"):  # fast path: already E.164 and inside a DID range (what desk phones carry)
            for did in self.did_ranges:
                extension = did.extension(compact[1:])
                if extension is not None:
                    return extension
        try:
            number = phonenumbers.parse(compact, self.region or None)
        except NumberParseException:
            return compact
        if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
            return compact
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        for did in self.did_ranges:
            extension = did.extension(e164[1:])
            if extension is not None:
                return extension
        return e164

    def fingerprint(self) -> str:
        """Changes whenever the plan would give other keys: stored keys from another plan are not used."""
        data = {"v": 1, "region": self.region, "ext": self.extension_digits,
                "did": [(r.first, r.last, r.length, r.ext_first, r.ext_width) for r in self.did_ranges]}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
