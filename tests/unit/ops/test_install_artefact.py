"""The install artefact: `pip wheel` builds a wheel that carries every template, stylesheet and migration,
and deploy/constraints.txt pins every runtime dependency at a version the wheel accepts."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# Folders whose every file the running service reads at run time (package data).
DATA_DIRS = ("voicemail/web/templates", "voicemail/web/static", "voicemail/db/migrations",
             "voicemail/standin/templates", "mailer/templates")


def pins() -> dict[str, str]:
    text = (REPO / "deploy" / "constraints.txt").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt line is not name==version: {line!r}"
            out[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return out


def test_constraints_pin_every_runtime_dependency_at_an_accepted_version() -> None:
    requirements = pytest.importorskip("packaging.requirements")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = pins()
    for spec in project["dependencies"]:
        req = requirements.Requirement(spec)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pinned, f"{req.name} is not pinned in deploy/constraints.txt (make constraints)"
        assert req.specifier.contains(pinned[name], prereleases=True), \
            f"{req.name}=={pinned[name]} in deploy/constraints.txt does not satisfy {spec!r} (make constraints)"
    assert "voicemail" not in pinned


@pytest.mark.slow
def test_wheel_builds_and_carries_all_package_data(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(REPO),
                    "-w", str(tmp_path)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("voicemail-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(REPO)) for d in DATA_DIRS for p in (REPO / d).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    assert expected, "no package data found in the source tree"
    assert sorted(expected - names) == []
    assert any(n.endswith(".dist-info/entry_points.txt") for n in names)
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "voicemail = voicemail.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
