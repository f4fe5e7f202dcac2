"""The spool check as the service user sees it: a spool this user cannot enter, or a folder inside it that it
cannot read, fails naming the path. Root reads everything, so the check runs in a child process that has
dropped to the unprivileged user `nobody`."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from voicemail.config import Settings
from voicemail.ops.local_checks import check_spool

NOBODY = 65534


def check_as_nobody(spool: Path) -> dict[str, object]:
    """check_spool(spool) in a forked child running as uid/gid 65534; its result as a dict."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, check, report, exit without running the parent's handlers
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            result = check_spool(Settings(spool_dir=str(spool)))
            os.write(write_end, json.dumps({"ok": result.ok, "detail": result.detail}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    assert data, "the child process reported nothing"
    return dict(json.loads(data))


@pytest.fixture
def spool() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root to run the check as another user")
    base = Path(tempfile.mkdtemp(prefix="vm-doctor-spool-"))
    try:
        os.chmod(base, 0o755)
        root = base / "voicemail"
        (root / "default" / "1001" / "INBOX").mkdir(parents=True)
        for folder in (root, root / "default", root / "default" / "1001", root / "default" / "1001" / "INBOX"):
            os.chown(folder, 0, NOBODY)  # the service user's group, as with SupplementaryGroups=asterisk
            os.chmod(folder, 0o770)
        yield root
    finally:
        shutil.rmtree(base)


def test_spool_shared_through_the_group_passes_for_the_service_user(spool: Path) -> None:
    result = check_as_nobody(spool)
    assert result["ok"], result["detail"]


def test_spool_the_service_user_cannot_enter_fails_naming_it(spool: Path) -> None:
    os.chown(spool, 0, 0)
    result = check_as_nobody(spool)
    assert not result["ok"] and str(spool) in str(result["detail"]) and "SupplementaryGroups" in str(result["detail"])


def test_unreadable_folder_inside_the_spool_fails_naming_it(spool: Path) -> None:
    inbox = spool / "default" / "1001" / "INBOX"
    os.chown(spool / "default" / "1001", 0, 0)
    result = check_as_nobody(spool)
    assert not result["ok"], result
    assert "cannot read" in str(result["detail"]) and str(spool / "default" / "1001") in str(result["detail"])
    assert inbox.exists()
