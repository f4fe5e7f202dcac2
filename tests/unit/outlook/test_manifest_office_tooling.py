"""The generated manifest as Microsoft's own tooling (npm office-addin-manifest, offline) reads it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner

from tests.requirements import require_binary, require_file
from voicemail.cli.root import main

HERE = Path(__file__).parent
NODE_MODULES = HERE.parent.parent / "browser" / "node_modules"


def _read_with_office_tooling(manifest: Path) -> dict[str, object]:
    node = require_binary("node", package="nodejs")
    require_file(NODE_MODULES / "office-addin-manifest" / "package.json", package="office-addin-manifest",
                 install="npm ci --prefix tests/browser (npm package office-addin-manifest)")
    done = subprocess.run([node, str(HERE / "office_read_manifest.js"), str(NODE_MODULES), str(manifest)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    info: dict[str, object] = json.loads(done.stdout)
    return info


def test_cli_manifest_is_read_by_microsofts_tooling_as_a_mail_addin(tmp_path: Path) -> None:
    out = tmp_path / "viewmail.xml"
    result = CliRunner().invoke(main, ["outlook", "manifest", "--url", "https://vm.example.org", "-o", str(out)])
    assert result.exit_code == 0, result.output
    info = _read_with_office_tooling(out)
    assert info["officeAppType"] == "MailApp"
    assert info["hosts"] == ["Mailbox"]
    assert info["id"] == "132e0413-38a0-56cf-97ad-191583fce508"
    assert info["displayName"] == "ViewMail"
    assert info["appDomains"] == ["https://vm.example.org"]
    assert info["permissions"] == "ReadItem"
    assert info["iconUrl"] == "https://vm.example.org/static/outlook/icon-64.png"


def test_cli_refuses_a_plain_http_site_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "viewmail.xml"
    result = CliRunner().invoke(main, ["outlook", "manifest", "--url", "http://vm.example.org", "-o", str(out)])
    assert result.exit_code == 1
    assert "https://" in result.output
    assert not out.exists()


def test_cli_prints_the_manifest_without_output_file() -> None:
    result = CliRunner().invoke(main, ["outlook", "manifest", "--url", "https://vm.example.org"])
    assert result.exit_code == 0
    assert result.output.startswith('<?xml version="1.0" encoding="UTF-8"?>')
