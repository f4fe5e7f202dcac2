"""What one installation check returns, and running a list of them without letting one crash the rest."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from voicemail.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    """``ok`` is False only for a real problem; ``skipped`` marks a piece that is not configured."""

    name: str
    ok: bool
    detail: str
    skipped: bool = False

    def line(self) -> str:
        word = "skip" if self.skipped else ("ok" if self.ok else "FAIL")
        return f"{word:<4}  {self.name:<12} {self.detail}"


Check = Callable[[Settings], CheckResult]


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, True, detail)


def failed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, False, detail)


def skipped(name: str, detail: str) -> CheckResult:
    return CheckResult(name, True, detail, skipped=True)


def run_checks(settings: Settings, checks: Iterable[tuple[str, Check]]) -> list[CheckResult]:
    """Each check in order; one that raises is a failure of that check (its exception type and text)."""
    results: list[CheckResult] = []
    for name, check in checks:
        try:
            results.append(check(settings))
        except Exception as exc:
            log.debug("check %s raised", name, exc_info=True)
            results.append(failed(name, f"{type(exc).__name__}: {str(exc)[:300]}"))
    return results
