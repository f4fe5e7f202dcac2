"""The staging folder Asterisk reads decrypted audio from: group-shared, never world-readable."""

from __future__ import annotations

import grp
import os
import stat
import time
from pathlib import Path

import pytest

from voicemail.domain.errors import ConfigError
from voicemail.phone.staging import StagingDir


def test_files_are_0640_in_the_shared_group_in_a_setgid_2750_folder(tmp_path: Path) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    old = os.umask(0o077)  # a strict umask must not take the group's read bit
    try:
        staging = StagingDir(tmp_path / "stage", group)
        path = staging.write("vmmenu-", ".wav", [b"RIFF", b"data"])
    finally:
        os.umask(old)
    info, folder = path.stat(), (tmp_path / "stage").stat()
    assert stat.S_IMODE(info.st_mode) == 0o640 and info.st_gid == os.getgid()
    assert stat.S_IMODE(folder.st_mode) == 0o2750
    assert path.read_bytes() == b"RIFFdata" and path.name.startswith("vmmenu-") and path.suffix == ".wav"
    staging.remove(path)
    staging.remove(path)  # twice is fine
    assert list((tmp_path / "stage").iterdir()) == []


def test_an_unknown_group_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="phone_staging_group"):
        StagingDir(tmp_path / "stage", "no-such-group-voicemail").ensure()


def test_a_symlinked_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "stage").symlink_to(tmp_path / "real")
    with pytest.raises(ConfigError, match="not a folder"):
        StagingDir(tmp_path / "stage").ensure()


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    def chunks() -> object:
        yield b"half"
        raise OSError("vault read failed")

    staging = StagingDir(tmp_path / "stage")
    with pytest.raises(OSError):
        staging.write("vmmenu-", ".wav", chunks())  # type: ignore[arg-type]
    assert list((tmp_path / "stage").iterdir()) == []


def test_sweep_takes_every_leftover_of_a_prefix_or_only_old_ones(tmp_path: Path) -> None:
    staging = StagingDir(tmp_path / "stage")
    staging.ensure()
    old, new, other = (tmp_path / "stage" / n for n in ("vmmenu-a.wav", "vmmenu-b.wav", "vmplay-c.wav"))
    for path in (old, new, other):
        path.write_bytes(b"x")
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert staging.sweep("vmmenu-", max_age=3600) == 1
    assert staging.sweep("vmmenu-") == 1
    assert sorted(p.name for p in (tmp_path / "stage").iterdir()) == ["vmplay-c.wav"]


def test_a_relative_folder_setting_still_gives_asterisk_an_absolute_path(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = StagingDir(Path("var/stage")).write("vmmenu-", ".wav", [b"x"])
    assert path.is_absolute() and path.parent == tmp_path / "var" / "stage"
