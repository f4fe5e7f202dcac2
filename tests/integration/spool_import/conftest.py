"""A site with a spool full of old messages written as the stand-in's app_voicemail writes them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.pipeline.harness import VOICEMAIL, Site
from voicemail.standin.spool_fill import Written, fill_spool


@pytest.fixture
def site(tmp_path: Path, pg_url: str):  # type: ignore[no-untyped-def]
    s = Site(tmp_path / "site", database_url=pg_url)
    s.prepare()
    yield s


def fill(site: Site, mailboxes: int, messages: int, **kw: object) -> list[Written]:
    return list(fill_spool(site.spool, mailboxes, messages, keep=True, **kw))  # type: ignore[arg-type]


def run_import(site: Site, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VOICEMAIL, "import", *args], env=site.env(**env), capture_output=True, text=True,
                          timeout=300)
