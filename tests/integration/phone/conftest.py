"""The telephone-menu tests drive scripted callers on the lab's real call timing (a caller waits the lab's
seconds before pressing keys, the menu waits real seconds for them): on a machine starved of CPU a key can
arrive after a menu's wait ended, as it would on an overloaded Asterisk. Each test is rerun once; a second
failure fails the run."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/phone/" in item.nodeid:
            item.add_marker(pytest.mark.flaky(reruns=1))
