"""tests/requirements.py: a missing system package skips a test with one line naming it, and fails it under
CI=true; what is there is found."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.requirements import require_binary, require_ews_schema, require_file


def test_a_missing_program_skips_with_one_line_naming_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_binary("no-such-program-vm", package="no-such-package")
    assert str(skipped.value) == "the program no-such-program-vm is missing: apt-get install no-such-package"


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_under_ci_a_missing_requirement_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="apt-get install no-such-package"):
        require_binary("no-such-program-vm", package="no-such-package")
    with pytest.raises(pytest.fail.Exception, match="npm ci"):
        require_file(tmp_path / "axe.min.js", package="axe-core", install="npm ci --prefix tests/browser")
    with pytest.raises(pytest.fail.Exception, match="VOICEMAIL_EWS_SCHEMA"):
        require_ews_schema(None)


def test_ci_false_still_skips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="VOICEMAIL_EWS_SCHEMA"):
        require_ews_schema(tmp_path)


def test_what_is_installed_is_returned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    (tmp_path / "messages.xsd").write_text("<xs:schema/>")
    (tmp_path / "types.xsd").write_text("<xs:schema/>")
    assert require_ews_schema(tmp_path) == tmp_path
    assert require_file(sys.executable, package="python3") == Path(sys.executable)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    assert require_binary(Path(sys.executable).name, package="python3") == sys.executable
