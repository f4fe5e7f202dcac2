"""The Outlook add-in's settings: the framing list is https origins only, the token lifetime bounded, SSO
only with an issuer to check tokens against; the task pane's CSP carries the list (or refuses framing)."""

from __future__ import annotations

import pytest

from voicemail.config import load_settings
from voicemail.domain.errors import ConfigError
from voicemail.web.outlook_pane import pane_csp


def test_the_defaults_allow_outlook_on_the_web_and_the_new_outlook_to_frame_the_pane() -> None:
    s = load_settings(environ={})
    assert "https://outlook.office.com" in s.outlook_frame_ancestors
    assert "https://outlook.cloud.microsoft" in s.outlook_frame_ancestors
    assert (s.outlook_token_minutes, s.outlook_sso_audience) == (60, "")


@pytest.mark.parametrize("env, name", [
    ({"VOICEMAIL_OUTLOOK_FRAME_ANCESTORS": "http://outlook.office.com"}, "VOICEMAIL_OUTLOOK_FRAME_ANCESTORS"),
    ({"VOICEMAIL_OUTLOOK_FRAME_ANCESTORS": "https://mail.example.org/owa"}, "VOICEMAIL_OUTLOOK_FRAME_ANCESTORS"),
    ({"VOICEMAIL_OUTLOOK_FRAME_ANCESTORS": "'self' https://x.example"}, "VOICEMAIL_OUTLOOK_FRAME_ANCESTORS"),
    ({"VOICEMAIL_OUTLOOK_TOKEN_MINUTES": "0"}, "VOICEMAIL_OUTLOOK_TOKEN_MINUTES"),
    ({"VOICEMAIL_OUTLOOK_TOKEN_MINUTES": "721"}, "VOICEMAIL_OUTLOOK_TOKEN_MINUTES"),
    ({"VOICEMAIL_OUTLOOK_SSO_AUDIENCE": "api://vm.example/abc"}, "VOICEMAIL_OUTLOOK_SSO_AUDIENCE"),
])
def test_a_bad_outlook_setting_stops_the_start_naming_it(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(environ=env)


def test_an_on_premises_owa_origin_can_be_added() -> None:
    s = load_settings(environ={"VOICEMAIL_OUTLOOK_FRAME_ANCESTORS": "https://outlook.office.com,https://mail.example.org"})
    assert "frame-ancestors https://outlook.office.com https://mail.example.org" in pane_csp(s.outlook_frame_ancestors)


def test_an_empty_list_makes_the_pane_refuse_framing_too() -> None:
    assert pane_csp(()).endswith("frame-ancestors 'none'")
