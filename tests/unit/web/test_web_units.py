"""Pure pieces of the web layer: Range parsing, the rate limiter, passwords, TOTP, origins, settings."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from voicemail.domain.errors import InvalidInput
from voicemail.domain.mailbox import ByteRange
from voicemail.web.audio import parse_range
from voicemail.web.auth import totp
from voicemail.web.auth.passwords import hash_password, verify_password
from voicemail.web.authz import message_id
from voicemail.web.csrf import origin_of
from voicemail.web.ratelimit import RateLimiter
from voicemail.web.settings_rules import check_settings


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-", ByteRange(0, None)),
    ("bytes=100-199", ByteRange(100, 199)),
    ("bytes=-500", ByteRange(None, None, suffix=500)),
    ("bytes = 5 - 9", ByteRange(5, 9)),
    (None, None), ("", None), ("bytes=-", None), ("bytes=9-5", None), ("items=0-1", None),
    ("bytes=0-1,5-9", None), ("bytes=abc-", None), ("bytes=1" + "0" * 20 + "-", None),
])
def test_range_header_parsing(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header) == expected


def test_rate_limiter_refuses_over_the_limit_until_the_window_moves() -> None:
    now = [0.0]
    limiter = RateLimiter(3, 60, clock=lambda: now[0])
    assert [limiter.hit("192.0.2.1") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit("192.0.2.2")  # another address has its own window
    now[0] = 61
    assert limiter.hit("192.0.2.1")


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(5, 60, clock=lambda: 0.0, max_keys=100)
    for i in range(1000):
        limiter.hit(f"198.51.100.{i}")
    assert len(limiter._hits) <= 100


def test_passwords_are_argon2id_and_verify() -> None:
    stored = hash_password("a long enough password")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "a long enough password")
    assert not verify_password(stored, "a long enough passwore")
    assert not verify_password(None, "a long enough password")  # unknown account: same work, never true
    with pytest.raises(InvalidInput):
        hash_password("short")


def test_totp_codes_match_one_step_of_drift_and_never_an_earlier_step() -> None:
    key = totp.new_key()
    at = 1_700_000_000.0
    code = totp.current_code(key, at)
    step = totp.matching_step(key, code, at=at)
    assert step == int(at // 30)
    assert totp.matching_step(key, code, at=at + 30) == step  # the previous step is still accepted
    assert totp.matching_step(key, code, at=at + 90) is None
    assert totp.matching_step(key, code, at=at, after_step=step) is None  # replay refused
    assert totp.matching_step(key, "12345", at=at) is None
    assert totp.matching_step(key, "abcdef", at=at) is None


def test_totp_code_of_the_next_step_is_accepted_for_a_clock_running_ahead() -> None:
    key = totp.new_key()
    at = 1_700_000_000.0
    ahead = totp.current_code(key, at + 30)
    assert totp.matching_step(key, ahead, at=at) == int(at // 30) + 1


def test_totp_code_typed_with_spaces_is_accepted() -> None:
    key = totp.new_key()
    at = 1_700_000_000.0
    code = totp.current_code(key, at)
    assert totp.matching_step(key, f" {code[:3]} {code[3:]} ", at=at) == int(at // 30)


def test_totp_after_an_earlier_step_was_used_the_current_step_is_still_accepted() -> None:
    key = totp.new_key()
    at = 1_700_000_000.0
    step = int(at // 30)
    code = totp.current_code(key, at)
    assert totp.matching_step(key, code, at=at, after_step=step - 1) == step
    assert totp.matching_step(key, totp.current_code(key, at + 30), at=at, after_step=step) == step + 1


def test_totp_code_in_non_ascii_digits_is_refused() -> None:
    key = totp.new_key()
    assert totp.matching_step(key, "\u0661\u0662\u0663\u0664\u0665\u0666", at=1_700_000_000.0) is None


def test_totp_without_a_time_given_uses_the_clock() -> None:
    key = totp.new_key()
    assert totp.matching_step(key, totp.current_code(key)) is not None  # one step of drift covers a boundary


def test_totp_provisioning_uri_names_the_issuer_and_the_account() -> None:
    key = totp.new_key()
    uri = urlsplit(totp.provisioning_uri(key, "alice"))
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == "/Voicemail:alice"
    query = parse_qs(uri.query)
    assert query["issuer"] == ["Voicemail"]
    assert query["secret"] == [totp.secret_of(key)]


@pytest.mark.parametrize(("url", "origin"), [
    ("https://Example.org/x", "https://example.org"), ("https://example.org:443", "https://example.org"),
    ("http://localhost:8080/", "http://localhost:8080"), ("null", None), ("javascript:alert(1)", None),
    ("https://[::1]:8443/", "https://[::1]:8443"), ("https://example.org:99999", None),
])
def test_origin_normalisation(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_message_ids_must_be_canonical_uuids() -> None:
    good = "3f2b8c1e-0000-4000-8000-0123456789ab"
    assert message_id(good.upper()) == good
    for bad in ("../x", "%2e%2e", "1", good + "\x00", good[:-1], "", "{" + good + "}"):
        with pytest.raises(InvalidInput):
            message_id(bad)


def test_settings_validation() -> None:
    assert check_settings(" a@example.org ", "Europe/Paris", "fr-CA") == {
        "notify_address": "a@example.org", "timezone": "Europe/Paris", "language": "fr-CA"}
    assert check_settings("", "", "") == {"notify_address": "", "timezone": "", "language": ""}
    for bad in (("not an address", "", ""), ("a@b.example\r\nBcc: c@d", "", ""), ("", "../../etc/passwd", ""),
                ("", "Mars/Olympus", ""), ("", "", "english; DROP")):
        with pytest.raises(InvalidInput):
            check_settings(*bad)
