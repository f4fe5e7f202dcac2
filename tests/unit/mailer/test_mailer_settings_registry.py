"""Mail settings are checked when built; the sender registry builds the outbox and names what is missing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from mailer import MailSettings, NotificationFacts, OutboxMailer, build_mailer, compose
from tests.unit.mailer.mailer_testdata import NOTIFICATION_ID, SETTINGS, facts, internal
from voicemail.domain.errors import ConfigError, InvalidInput


@pytest.mark.parametrize(
    "template",
    [
        "From {name.__class__}",
        "From {0}",
        "From {}",
        "From {name!r}",
        "From {name:>100000}",
        "From {caller}",
        "From {name",
        "From {name}\r\nBcc: x@evil.test",
    ],
)
def test_internal_subject_template_may_only_use_name_and_number(template: str) -> None:
    with pytest.raises(ConfigError):
        MailSettings(sender="voicemail@example.org", internal_subject_template=template)


@pytest.mark.parametrize("subject", ["Outside caller\r\nBcc: x@evil.test", "  ", "x" * 500, "tab\there"])
def test_external_subject_must_be_one_printable_line(subject: str) -> None:
    with pytest.raises(ConfigError):
        MailSettings(sender="voicemail@example.org", external_subject=subject)


@pytest.mark.parametrize(
    "sender", ["voicemail", "Voicemail <voicemail@example.org>", "vm@example.org\r\nBcc: x@evil.test", ""]
)
def test_sender_must_be_a_plain_address(sender: str) -> None:
    with pytest.raises(ConfigError):
        MailSettings(sender=sender)


def test_default_wording_matches_the_design() -> None:
    settings = MailSettings(sender="voicemail@example.org")
    assert settings.external_subject == "Voice message from an outside caller"
    assert settings.internal_subject_template == "Voice message from {name} ({number})"


@pytest.mark.parametrize(
    "changes",
    [
        {"received_at": datetime(2026, 11, 29, 18, 55)},  # naive on purpose
        {"duration_seconds": -1},
        {"duration_seconds": True},
        {"player_url": "javascript:alert(1)"},
        {"player_url": 'https://vm.example.org/play/x"><script>'},
        {"player_url": "https://vm.example.org/play/x\r\nBcc: y"},
        {"notification_id": "../x"},
        {"recipient": "alice@example.test\r\nBcc: x@evil.test"},
    ],
)
def test_notification_facts_refuse_unsafe_values(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        facts(internal(), **changes)


def test_facts_are_frozen() -> None:
    built: NotificationFacts = facts(internal())
    with pytest.raises(AttributeError):
        built.urgent = True  # type: ignore[misc]


def test_registry_builds_a_working_outbox(tmp_path: Path) -> None:
    mailer = build_mailer("outbox", directory=str(tmp_path))
    assert isinstance(mailer, OutboxMailer)
    mailer.send(compose(facts(internal()), SETTINGS))
    assert (tmp_path / f"{NOTIFICATION_ID}.eml").is_file()


def test_registry_builds_each_backend_without_touching_the_network() -> None:
    from mailer.ews import EwsMailer
    from mailer.graph import GraphMailer
    from mailer.smtp import SmtpMailer

    ews = build_mailer(" EWS ", endpoint="https://mail.example.org/EWS/Exchange.asmx", sender="vm@example.org",
                       username="EXAMPLE\\svc", password="pw")
    graph = build_mailer("graph", tenant_id="contoso.example", client_id="app", client_secret="secret",
                         sender="vm@example.org")
    smtp = build_mailer("smtp", host="smtp.example.org", sender="vm@example.org")
    assert isinstance(ews, EwsMailer) and ews.config.auth == "ntlm" and ews.config.version == "Exchange2016"
    assert isinstance(graph, GraphMailer) and graph.config.endpoint == "https://graph.microsoft.com"
    assert isinstance(smtp, SmtpMailer) and (smtp.config.port, smtp.config.tls) == (587, "starttls")


@pytest.mark.parametrize(
    ("kind", "missing"),
    [("ews", "VOICEMAIL_EWS_ENDPOINT"), ("graph", "VOICEMAIL_GRAPH_CLIENT_SECRET"), ("smtp", "VOICEMAIL_SMTP_HOST")],
)
def test_registry_names_the_missing_settings_of_a_backend(kind: str, missing: str) -> None:
    with pytest.raises(ConfigError, match=missing):
        build_mailer(kind)


def test_registry_refuses_settings_a_backend_does_not_take() -> None:
    with pytest.raises(ConfigError, match="directory"):
        build_mailer("smtp", host="smtp.example.org", sender="vm@example.org", directory="/tmp")


def test_registry_refuses_an_unknown_kind() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        build_mailer("carrier-pigeon")


def test_registry_outbox_needs_a_directory_and_no_unknown_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory"):
        build_mailer("outbox")
    with pytest.raises(ConfigError, match="colour"):
        build_mailer("outbox", directory=tmp_path, colour="blue")
