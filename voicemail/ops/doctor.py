"""`voicemail doctor`: every piece an installation needs, checked in the order an installer sets them up.

``diagnose(settings)`` returns one CheckResult per check; the installation is healthy when every result is
``ok`` (a skipped check is a piece that is not configured, e.g. the embedded broker). No check changes
anything: no database is created or migrated, no mail sent, no task enqueued, no key written.
"""

from __future__ import annotations

from collections.abc import Sequence

from voicemail.config import Settings
from voicemail.domain.errors import InvalidInput
from voicemail.ops.checks import Check, CheckResult, run_checks
from voicemail.ops.listener_check import check_listener
from voicemail.ops.local_checks import (
    check_config,
    check_database,
    check_keyring,
    check_signing_key,
    check_spool,
    check_staging,
)
from voicemail.ops.remote_checks import check_ami, check_broker, check_mailer

CHECKS: tuple[tuple[str, Check], ...] = (
    ("config", check_config),
    ("database", check_database),
    ("broker", check_broker),
    ("keyring", check_keyring),
    ("signing-key", check_signing_key),
    ("ami", check_ami),
    ("listener", check_listener),
    ("spool", check_spool),
    ("staging", check_staging),
    ("mailer", check_mailer),
)


CHECK_NAMES = tuple(name for name, _ in CHECKS)


def diagnose(settings: Settings, only: Sequence[str] = ()) -> list[CheckResult]:
    """Every check, or only the named ones (in the usual order). InvalidInput for an unknown name."""
    unknown = sorted(set(only) - set(CHECK_NAMES))
    if unknown:
        raise InvalidInput(f"unknown check {', '.join(unknown)} (known: {', '.join(CHECK_NAMES)})")
    return run_checks(settings, [(name, check) for name, check in CHECKS if not only or name in only])


def healthy(results: list[CheckResult]) -> bool:
    return all(r.ok for r in results)
