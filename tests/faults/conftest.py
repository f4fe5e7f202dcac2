"""Fault-suite fixtures: the outcome recorder (the results table) and private service instances."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.faults.invariants import Outcome
from tests.faults.results import record
from tests.requirements import in_ci

_OUTCOMES: list[Outcome] = []


@pytest.fixture
def report() -> Iterator[list[Outcome]]:
    """Append the scenario's Outcome; it is written to the results table at the end of the session, and
    its violations fail the test that reported them."""
    mine: list[Outcome] = []
    yield mine
    _OUTCOMES.extend(mine)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    record(_OUTCOMES)


def require_root(what: str) -> None:
    """Skip (one line) when not root; under CI (CI=true) a missing privilege is a failure."""
    if os.geteuid() != 0:
        if in_ci():
            pytest.fail(f"{what} needs root, and CI runs as root", pytrace=False)
        pytest.skip(f"{what} needs root")
