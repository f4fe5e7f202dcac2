"""Server back-off hints, how failures are classed (retry or park), and what the logs may say."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from exchangelib import errors as ews_errors
from oauthlib.oauth2 import InvalidClientError

from mailer.errors import MAX_RETRY_AFTER, RetryLater, parse_retry_after
from mailer.ews import map_ews_error, quiet_exchangelib_logs
from voicemail.domain.errors import PermanentError, TransientError
from workers.tasks import countdown

NOW = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), (" 7 ", 7.0), ("0", None), ("-3", None), ("soon", None), (None, None),
     (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
     (format_datetime(NOW - timedelta(seconds=90), usegmt=True), None),
     ("99999999", MAX_RETRY_AFTER)],
)
def test_retry_after_header_is_read_as_seconds_and_bounded(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


def test_retry_later_is_a_transient_error_with_a_bounded_hint() -> None:
    assert isinstance(RetryLater("busy", 5), TransientError)
    assert RetryLater("busy", float("nan")).retry_after is None
    assert RetryLater("busy", 10 ** 9).retry_after == MAX_RETRY_AFTER


def test_the_worker_waits_at_least_as_long_as_the_server_asked() -> None:
    for retries in range(6):
        assert countdown(RetryLater("busy", 297.7), retries, cap=300) >= 297.7
        assert countdown(RetryLater("busy", 4000), retries, cap=300) == 3600.0


def test_without_a_hint_the_worker_uses_its_jittered_backoff() -> None:
    delays = {countdown(TransientError("down"), 3, cap=300) for _ in range(50)}
    assert all(0.5 <= d <= 16 for d in delays)
    assert len(delays) > 1  # jitter


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ews_errors.ErrorServerBusy("busy", back_off=12.5), RetryLater),
        (ews_errors.ErrorTimeoutExpired("slow"), TransientError),
        (ews_errors.ErrorInternalServerTransientError("x"), TransientError),
        (ews_errors.ErrorMailboxStoreUnavailable("x"), TransientError),
        (ews_errors.TransportError("connection reset"), TransientError),
        (requests.ConnectionError("refused"), TransientError),
        (ews_errors.ErrorInvalidRecipients("x"), PermanentError),
        (ews_errors.ErrorSchemaValidation("x"), PermanentError),
        (ews_errors.ErrorNonExistentMailbox("x"), PermanentError),
        (ews_errors.ErrorAccessDenied("x"), PermanentError),
        (ews_errors.ErrorSendAsDenied("x"), PermanentError),
        (ews_errors.ErrorImpersonateUserDenied("x"), PermanentError),
        (ews_errors.UnauthorizedError("x"), PermanentError),
        (ews_errors.TransportError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), PermanentError),
        (InvalidClientError(), PermanentError),
    ],
)
def test_ews_failures_are_classed_for_retry_or_dead_letter(error: Exception, expected: type[Exception]) -> None:
    mapped = map_ews_error(error)
    assert type(mapped) is expected
    if expected is TransientError:
        assert not isinstance(mapped, PermanentError)


def test_server_busy_keeps_its_back_off_hint() -> None:
    mapped = map_ews_error(ews_errors.ErrorServerBusy("busy", back_off=297.749))
    assert isinstance(mapped, RetryLater) and mapped.retry_after == pytest.approx(297.749)


def test_mapped_errors_do_not_repeat_the_server_text() -> None:
    mapped = map_ews_error(ews_errors.ErrorInvalidRecipients("Bob Colleague <1002> is not a recipient"))
    assert "Bob" not in str(mapped) and "1002" not in str(mapped)


def test_exchangelib_logs_never_carry_the_request(caplog: pytest.LogCaptureFixture) -> None:
    quiet_exchangelib_logs()
    secret = "<t:Subject>Voice message from Bob Colleague (1002)</t:Subject>"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("exchangelib.util").debug("Request XML: %s", secret)
        logging.getLogger("exchangelib.util").error("%s: %s\n%s", "ValueError", "boom", secret)
    assert "Bob" not in caplog.text and "1002" not in caplog.text
    assert "exchangelib error" in caplog.text  # that something went wrong is still visible
