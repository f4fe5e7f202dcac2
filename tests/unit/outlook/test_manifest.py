"""The Outlook add-in manifest: generated for one https site, stable id, activation on our notifications."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from voicemail.domain.errors import InvalidInput
from voicemail.outlook.manifest import addin_id, build_manifest, parse_site_url, player_link_regex

NS = {"o": "http://schemas.microsoft.com/office/appforoffice/1.1",
      "v": "http://schemas.microsoft.com/office/mailappversionoverrides",
      "bt": "http://schemas.microsoft.com/office/officeappbasictypes/1.0",
      "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


@pytest.mark.parametrize("url", [
    "http://voicemail.example.org", "voicemail.example.org", "https://", "https://vm.example.org/?a=1",
    "https://vm.example.org/#top", "https://user:pw@vm.example.org", "https://vm.example.org/a b",
    "https://vm.example.org:99999", "ftp://vm.example.org", "",
])
def test_site_url_must_be_plain_https(url: str) -> None:
    with pytest.raises(InvalidInput):
        parse_site_url(url)


def test_site_url_is_normalised_so_the_same_site_keeps_one_addin_id() -> None:
    same = [parse_site_url(u) for u in ("https://VM.example.org", "https://vm.example.org/",
                                         "https://vm.example.org:443/")]
    assert {s.base for s in same} == {"https://vm.example.org"}
    assert len({addin_id(s) for s in same}) == 1
    assert addin_id(parse_site_url("https://other.example.org")) != addin_id(same[0])
    assert addin_id(parse_site_url("https://vm.example.org/voicemail")) != addin_id(same[0])


def test_addin_id_is_a_uuid_fixed_across_releases() -> None:
    # A changed id would make Exchange see a new add-in: every deployment would get a duplicate.
    assert addin_id(parse_site_url("https://vm.example.org")) == "132e0413-38a0-56cf-97ad-191583fce508"


def test_manifest_points_every_url_at_the_site_over_https() -> None:
    site = parse_site_url("https://vm.example.org:8443/vm/")
    root = ET.fromstring(build_manifest(site))
    assert root.get(XSI_TYPE) == "MailApp"
    assert root.findtext("o:Id", namespaces=NS) == addin_id(site)
    assert [e.text for e in root.findall("o:AppDomains/o:AppDomain", NS)] == ["https://vm.example.org:8443"]
    urls = [v for e in root.iter() if (v := e.get("DefaultValue") or "").startswith("http")]
    assert urls and all(u.startswith("https://vm.example.org:8443/vm/") for u in urls)
    pane = root.find("o:FormSettings/o:Form/o:DesktopSettings/o:SourceLocation", NS)
    assert pane is not None and pane.get("DefaultValue") == "https://vm.example.org:8443/vm/outlook/taskpane"
    command_pane = root.find(".//v:Resources/bt:Urls/bt:Url[@id='paneUrl']", NS)
    assert command_pane is not None and command_pane.get("DefaultValue") == pane.get("DefaultValue")
    assert root.findtext("o:Permissions", namespaces=NS) == "ReadItem"


def test_manifest_shows_a_button_on_the_message_read_surface() -> None:
    root = ET.fromstring(build_manifest(parse_site_url("https://vm.example.org")))
    point = root.find(".//v:ExtensionPoint", NS)
    assert point is not None and point.get(XSI_TYPE) == "MessageReadCommandSurface"
    action = point.find(".//v:Control/v:Action", NS)
    assert action is not None and action.get(XSI_TYPE) == "ShowTaskpane"
    # Every resource id the button uses is declared.
    declared = {e.get("id") for e in root.iter() if e.tag.startswith("{" + NS["bt"]) and e.get("id")}
    used = {e.get("resid") for e in point.iter() if e.get("resid")}
    assert used <= declared


def test_activation_rule_matches_our_player_link_only() -> None:
    site = parse_site_url("https://vm.example.org")
    root = ET.fromstring(build_manifest(site))
    rule = root.find(".//o:Rule[@RegExName='voicemailLink']", NS)
    assert rule is not None and rule.get("PropertyName") == "BodyAsPlaintext"
    pattern = re.compile(rule.get("RegExValue") or "")
    assert pattern.pattern == player_link_regex(site)
    # The notifier links to <web_base_url>/messages/<id>.
    assert pattern.search("Listen in the web player: https://vm.example.org/messages/3f9c-abc_1 (sign-in)")
    assert not pattern.search("https://evil.example.org/messages/3f9c")
    assert not pattern.search("https://vm.example.org.evil.example/messages/3f9c")
    assert not pattern.search("https://vm.example.org/inbox")


def test_every_icon_the_manifest_names_is_a_png_of_its_size_served_from_static() -> None:
    import struct
    from pathlib import Path

    from voicemail.outlook.manifest import ICON_PATHS

    static = Path(__file__).resolve().parents[3] / "voicemail" / "web" / "static"
    for size, path in ICON_PATHS.items():
        assert path.startswith("/static/")
        data = (static / path.removeprefix("/static/")).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", data[16:24]) == (size, size)
