"""`voicemail doctor`: every piece an installation needs, checked in the order an installer sets them up.

``diagnose(settings)`` returns one CheckResult per check; the installation is healthy when every result is
``ok`` (a skipped check is a piece that is not configured, e.g. the embedded broker). No check changes
anything: no database is created or migrated, no mail sent, no task enqueued, no key written.
"""

from __future__ import annotations

from voicemail.config import Settings
from voicemail.ops.checks import Check, CheckResult, run_checks
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
    ("signing key", check_signing_key),
    ("ami", check_ami),
    ("spool", check_spool),
    ("staging", check_staging),
    ("mailer", check_mailer),
)


def diagnose(settings: Settings) -> list[CheckResult]:
    return run_checks(settings, CHECKS)


def healthy(results: list[CheckResult]) -> bool:
    return all(r.ok for r in results)
