"""The generated manifest as Microsoft's own tooling reads it, offline: office-addin-manifest, and the converter
to the unified manifest whose result is checked against Microsoft's JSON schema (@microsoft/app-manifest)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
from click.testing import CliRunner

from tests.requirements import require_binary, require_file
from voicemail.cli.root import main
from voicemail.outlook.manifest import build_manifest, parse_site_url

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


def _convert_with_office_tooling(manifest: Path, out: Path) -> dict[str, Any]:
    node = require_binary("node", package="nodejs")
    require_file(NODE_MODULES / "office-addin-manifest-converter" / "package.json",
                 package="office-addin-manifest-converter",
                 install="npm ci --prefix tests/browser (npm package office-addin-manifest-converter)")
    done = subprocess.run([node, str(HERE / "office_convert_manifest.js"), str(NODE_MODULES), str(manifest), str(out)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    converted: dict[str, Any] = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return converted


def test_manifest_converts_to_a_unified_manifest_valid_against_microsofts_json_schema(tmp_path: Path) -> None:
    site = parse_site_url("https://vm.example.org")
    manifest = tmp_path / "viewmail.xml"
    manifest.write_text(build_manifest(site), encoding="utf-8")
    converted = _convert_with_office_tooling(manifest, tmp_path / "unified")
    # The schema of the version the converter wrote, as shipped offline in @microsoft/app-manifest.
    version = converted["manifestVersion"]
    schema_file = require_file(
        NODE_MODULES / "@microsoft" / "app-manifest" / "build" / "json-schemas" / "teams" / f"v{version}"
        / "MicrosoftTeams.schema.json", package="@microsoft/app-manifest",
        install="npm ci --prefix tests/browser (npm package office-addin-manifest)")
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(converted), key=lambda e: list(e.path))
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []
    # The converter marks what it had to shorten to fit the unified manifest.
    assert "<TRUNCATED>" not in json.dumps(converted)
    extension = converted["extensions"][0]
    assert [r["code"]["page"] for r in extension["runtimes"]] == ["https://vm.example.org/outlook/taskpane"]
    ribbon = extension["ribbons"][0]
    assert ribbon["contexts"] == ["mailRead"]
    button = ribbon["tabs"][0]["groups"][0]["controls"][0]
    assert button["label"] == "ViewMail"
    assert button["actionId"] in {a["id"] for a in extension["runtimes"][0]["actions"]}


def test_cli_refuses_a_plain_http_site_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "viewmail.xml"
    result = CliRunner().invoke(main, ["outlook", "manifest", "--url", "http://vm.example.org", "-o", str(out)])
    assert result.exit_code == 1
    assert "https://" in result.output
    assert not out.exists()


def test_cli_prints_the_manifest_without_output_file() -> None:
    result = CliRunner().invoke(main, ["outlook", "manifest", "--url", "https://vm.example.org"])
    assert result.exit_code == 0
    assert result.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>')


def test_the_manifest_command_prints_only_the_manifest() -> None:
    from click.testing import CliRunner

    from voicemail.cli import main

    result = CliRunner().invoke(main, ["outlook", "manifest", "--url", "https://voicemail.example.org"])
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert result.stdout.rstrip().endswith("</OfficeApp>")


def test_a_manifest_with_single_sign_on_is_read_by_microsofts_tooling_and_converts_validly(tmp_path: Path) -> None:
    client_id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    out = tmp_path / "viewmail.xml"
    result = CliRunner().invoke(main, ["outlook", "manifest", "--url", "https://vm.example.org",
                                       "--sso-client-id", client_id, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert _read_with_office_tooling(out)["officeAppType"] == "MailApp"
    converted = _convert_with_office_tooling(out, tmp_path / "unified")
    assert converted["webApplicationInfo"]["id"] == client_id
    assert converted["webApplicationInfo"]["resource"] == f"api://vm.example.org/{client_id}"
    schema_file = (NODE_MODULES / "@microsoft" / "app-manifest" / "build" / "json-schemas" / "teams"
                   / f"v{converted['manifestVersion']}" / "MicrosoftTeams.schema.json")
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    assert [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(converted)] == []


def test_a_bad_sso_client_id_is_refused_with_one_line() -> None:
    result = CliRunner().invoke(main, ["outlook", "manifest", "--url", "https://vm.example.org",
                                       "--sso-client-id", "not-a-uuid"])
    assert result.exit_code == 1
    assert "client id" in result.output
