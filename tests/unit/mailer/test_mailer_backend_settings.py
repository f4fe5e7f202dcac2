"""Backend settings: read from the environment, checked at start-up, errors name the variable."""

from __future__ import annotations

import pytest

from mailer.ews import EwsConfig
from mailer.graph import GraphConfig
from mailer.smtp import SmtpConfig
from voicemail.app import mailer_settings
from voicemail.config import load_settings
from voicemail.domain.errors import ConfigError

EWS_ENV = {
    "VOICEMAIL_MAILER": "ews",
    "VOICEMAIL_EWS_ENDPOINT": "https://mail.example.org/EWS/Exchange.asmx",
    "VOICEMAIL_EWS_USERNAME": "EXAMPLE\\svc-voicemail",
    "VOICEMAIL_EWS_PASSWORD": "pw",
    "VOICEMAIL_EWS_AUTH": "ntlm",
    "VOICEMAIL_EWS_SENDER": "voicemail@example.org",
}
GRAPH_ENV = {
    "VOICEMAIL_MAILER": "graph",
    "VOICEMAIL_GRAPH_TENANT_ID": "contoso.onmicrosoft.com",
    "VOICEMAIL_GRAPH_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
    "VOICEMAIL_GRAPH_CLIENT_SECRET": "s3cret",
    "VOICEMAIL_GRAPH_SENDER": "voicemail@contoso.example",
}
SMTP_ENV = {
    "VOICEMAIL_MAILER": "smtp",
    "VOICEMAIL_SMTP_HOST": "smtp.example.org",
    "VOICEMAIL_SMTP_PORT": "465",
    "VOICEMAIL_SMTP_TLS": "implicit",
    "VOICEMAIL_SMTP_USERNAME": "voicemail",
    "VOICEMAIL_SMTP_PASSWORD": "pw",
}


def test_ews_settings_come_from_the_environment_and_reach_the_sender() -> None:
    settings = load_settings(environ=EWS_ENV)
    kwargs, sender = mailer_settings(settings)
    config = EwsConfig(**kwargs)  # type: ignore[arg-type]
    assert sender == "voicemail@example.org"
    assert (config.endpoint, config.username, config.auth) == (EWS_ENV["VOICEMAIL_EWS_ENDPOINT"],
                                                               "EXAMPLE\\svc-voicemail", "ntlm")


def test_graph_settings_come_from_the_environment_and_reach_the_sender() -> None:
    settings = load_settings(environ={**GRAPH_ENV, "VOICEMAIL_GRAPH_ENDPOINT": "https://graph.microsoft.us",
                                      "VOICEMAIL_GRAPH_AUTHORITY": "https://login.microsoftonline.us"})
    kwargs, sender = mailer_settings(settings)
    config = GraphConfig(**kwargs)  # type: ignore[arg-type]
    assert sender == "voicemail@contoso.example"
    assert config.send_url == "https://graph.microsoft.us/v1.0/users/voicemail@contoso.example/sendMail"
    assert config.scope == "https://graph.microsoft.us/.default"
    assert config.authority == "https://login.microsoftonline.us"


def test_smtp_sender_falls_back_to_mail_sender() -> None:
    settings = load_settings(environ={**SMTP_ENV, "VOICEMAIL_MAIL_SENDER": "vm@example.org"})
    kwargs, sender = mailer_settings(settings)
    config = SmtpConfig(**kwargs)  # type: ignore[arg-type]
    assert sender == config.sender == "vm@example.org"
    assert (config.port, config.tls) == (465, "implicit")


def test_secrets_are_masked_in_config_show() -> None:
    shown = load_settings(environ={**EWS_ENV, **GRAPH_ENV, **SMTP_ENV}).redacted()
    for name in ("ews_password", "graph_client_secret", "smtp_password"):
        assert shown[name] == "********"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({**EWS_ENV, "VOICEMAIL_EWS_ENDPOINT": ""}, "VOICEMAIL_EWS_ENDPOINT"),
        ({**EWS_ENV, "VOICEMAIL_EWS_ENDPOINT": "http://mail.example.org/EWS/Exchange.asmx"},
         "VOICEMAIL_EWS_ENDPOINT"),
        ({**EWS_ENV, "VOICEMAIL_EWS_AUTH": "kerberos"}, "VOICEMAIL_EWS_AUTH"),
        ({**EWS_ENV, "VOICEMAIL_EWS_VERSION": "Exchange2007"}, "VOICEMAIL_EWS_VERSION"),
        ({**EWS_ENV, "VOICEMAIL_EWS_AUTH": "oauth2"}, "VOICEMAIL_EWS_TENANT_ID"),
        ({**EWS_ENV, "VOICEMAIL_EWS_PASSWORD": ""}, "VOICEMAIL_EWS_PASSWORD"),
        ({**EWS_ENV, "VOICEMAIL_EWS_SENDER": "Voicemail <vm@example.org>"}, "VOICEMAIL_EWS_SENDER"),
        ({**GRAPH_ENV, "VOICEMAIL_GRAPH_CLIENT_SECRET": ""}, "VOICEMAIL_GRAPH_CLIENT_SECRET"),
        ({**GRAPH_ENV, "VOICEMAIL_GRAPH_ENDPOINT": "http://graph.example"}, "VOICEMAIL_GRAPH_ENDPOINT"),
        ({**GRAPH_ENV, "VOICEMAIL_GRAPH_AUTHORITY": "ftp://login.example"}, "VOICEMAIL_GRAPH_AUTHORITY"),
        ({**SMTP_ENV, "VOICEMAIL_SMTP_HOST": ""}, "VOICEMAIL_SMTP_HOST"),
        ({**SMTP_ENV, "VOICEMAIL_SMTP_TLS": "ssl"}, "VOICEMAIL_SMTP_TLS"),
        ({**SMTP_ENV, "VOICEMAIL_SMTP_TLS": "none"}, "VOICEMAIL_SMTP_USERNAME"),
        ({**SMTP_ENV, "VOICEMAIL_SMTP_PASSWORD": ""}, "VOICEMAIL_SMTP_PASSWORD"),
        ({**SMTP_ENV, "VOICEMAIL_SMTP_PORT": "70000"}, "VOICEMAIL_SMTP_PORT"),
        ({**SMTP_ENV, "VOICEMAIL_MAIL_TIMEOUT": "0"}, "VOICEMAIL_MAIL_TIMEOUT"),
    ],
)
def test_a_bad_backend_setting_names_its_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(environ=env)


def test_settings_of_backends_not_chosen_are_not_required() -> None:
    assert load_settings(environ={"VOICEMAIL_MAILER": "outbox", "VOICEMAIL_EWS_AUTH": "whatever"}).mailer == "outbox"


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: EwsConfig(endpoint="https://mail.example.org/", sender="vm@example.org", username="u",
                           password="p"), "VOICEMAIL_EWS_ENDPOINT"),
        (lambda: EwsConfig(endpoint="http://127.0.0.1:8080/EWS/Exchange.asmx", sender="vm@example.org",
                           username="u", password="p", auth="oauth2"), "VOICEMAIL_EWS_TENANT_ID"),
        (lambda: GraphConfig(tenant_id="../x", client_id="a", client_secret="b", sender="vm@example.org"),
         "VOICEMAIL_GRAPH_TENANT_ID"),
        (lambda: SmtpConfig(host="smtp example", sender="vm@example.org"), "VOICEMAIL_SMTP_HOST"),
        (lambda: SmtpConfig(host="smtp.example.org", sender="vm"), "VOICEMAIL_SMTP_SENDER"),
    ],
)
def test_sender_configs_check_themselves(make: object, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        make()  # type: ignore[operator]


def test_ews_accepts_plain_http_only_on_loopback() -> None:
    EwsConfig(endpoint="http://127.0.0.1:8080/EWS/Exchange.asmx", sender="vm@example.org", username="u",
              password="p")
    with pytest.raises(ConfigError):
        EwsConfig(endpoint="http://10.0.0.5/EWS/Exchange.asmx", sender="vm@example.org", username="u",
                  password="p")
