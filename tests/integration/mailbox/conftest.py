from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.mailbox.harness import MailboxSite, mailbox_site


@pytest.fixture
def box(tmp_path: Path) -> Iterator[MailboxSite]:
    """The stand-in (format=wav), SQLite, the real container; play-on-phone rings a Local channel of the
    lab dialplan (vmlab/play answers and listens for ~11 lab seconds)."""
    with mailbox_site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}",
                      phone_device_template="Local/play@vmlab/n", phone_ring_timeout=5.0) as site:
        yield site
