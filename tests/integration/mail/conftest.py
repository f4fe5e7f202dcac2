"""Fixtures for the mail tests: the EWS schema, a throw-away CA, and the three local peers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.mail.ews_peer import EwsPeer
from tests.integration.mail.ews_schema import require_schema
from tests.integration.mail.graph_peer import GraphPeer
from tests.integration.mail.tls import TestCertificates, make_certificates


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def ews_peer() -> Iterator[EwsPeer]:
    require_schema()
    peer = EwsPeer(hang_limit=5.0).start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def ntlm_ews_peer(tmp_path: Path) -> Iterator[EwsPeer]:
    require_schema()
    users = tmp_path / "ntlm-users"
    users.write_text("EXAMPLE:svc-voicemail:correct horse\n", encoding="utf-8")
    previous = os.environ.get("NTLM_USER_FILE")
    peer = EwsPeer(ntlm_user_file=users, hang_limit=5.0).start()
    try:
        yield peer
    finally:
        peer.stop()
        if previous is None:
            os.environ.pop("NTLM_USER_FILE", None)
        else:
            os.environ["NTLM_USER_FILE"] = previous


@pytest.fixture
def graph_peer(certificates: TestCertificates) -> Iterator[GraphPeer]:
    peer = GraphPeer(certificates.server_context(), hang_limit=5.0).start()
    try:
        yield peer
    finally:
        peer.stop()
