"""The EWS sender against a local EWS endpoint that validates every request against Microsoft's schema."""

from __future__ import annotations

import time

import pytest

from mailer import compose
from mailer.errors import RetryLater
from mailer.ews import EwsConfig, EwsMailer
from tests.integration.mail.ews_peer import EwsPeer
from tests.integration.mail.ews_schema import SOAP, T, parse_xml
from tests.unit.mailer.mailer_testdata import NOTIFICATION_ID, SETTINGS, facts, internal, leaks, spoofed_external
from voicemail.domain.errors import PermanentError, TransientError

SENDER = "voicemail@example.org"


def basic_mailer(peer: EwsPeer, timeout: float = 5.0, **changes: str) -> EwsMailer:
    config = {"endpoint": peer.url, "sender": SENDER, "username": peer.username, "password": peer.password,
              "auth": "basic", **changes}
    return EwsMailer(EwsConfig(timeout=timeout, **config))


def message_of(request: bytes) -> dict[str, object]:
    """The t:Message of a CreateItem request, as {local name: text or element}."""
    root = parse_xml(request)
    body = root.find(f"{{{SOAP}}}Body")
    assert body is not None
    item = body[0]
    message = item.find(f".//{{{T}}}Message")
    assert message is not None
    return {"_disposition": item.get("MessageDisposition"), "_item": message,
            **{child.tag.split("}")[1]: child.text for child in message}}


def test_one_notification_is_one_schema_valid_createitem_sendonly(ews_peer: EwsPeer) -> None:
    mailer = basic_mailer(ews_peer)
    mailer.send(compose(facts(internal()), SETTINGS))
    assert ews_peer.invalid == []
    assert len(ews_peer.requests) == 1
    message = message_of(ews_peer.requests[0])
    assert message["_disposition"] == "SendOnly"
    assert message["Sensitivity"] == "Private"
    assert message["Importance"] == "Normal"
    assert message["Subject"] == "Voice message from Bob Colleague (1002)"
    assert b"SavedItemFolderId" not in ews_peer.requests[0]  # no copy in Sent Items
    assert ews_peer.auth_seen == ["basic"]


def test_urgent_is_high_importance_and_the_id_header_carries_the_opaque_id(ews_peer: EwsPeer) -> None:
    basic_mailer(ews_peer).send(compose(facts(internal(), urgent=True), SETTINGS))
    message = message_of(ews_peer.requests[0])
    assert message["Importance"] == "High"
    item = message["_item"]
    props = item.findall(f"{{{T}}}ExtendedProperty")  # type: ignore[attr-defined]
    assert len(props) == 1
    uri = props[0].find(f"{{{T}}}ExtendedFieldURI")
    assert (uri.get("DistinguishedPropertySetId"), uri.get("PropertyName")) == ("InternetHeaders", "X-Voicemail-Id")
    assert props[0].findtext(f"{{{T}}}Value") == NOTIFICATION_ID


def test_what_is_sent_is_exactly_the_rendered_request(ews_peer: EwsPeer) -> None:
    mailer = basic_mailer(ews_peer)
    email = compose(facts(spoofed_external()), SETTINGS)
    mailer.send(email)
    assert ews_peer.requests == [mailer.render_request(email)]
    assert leaks(ews_peer.requests[0].decode("utf-8")) == []


def test_ntlm_handshake_authenticates_the_service_account(ntlm_ews_peer: EwsPeer) -> None:
    mailer = EwsMailer(EwsConfig(endpoint=ntlm_ews_peer.url, sender=SENDER, username="EXAMPLE\\svc-voicemail",
                                 password="correct horse", auth="ntlm", timeout=5))
    mailer.send(compose(facts(internal()), SETTINGS))
    mailer.send(compose(facts(internal(), notification_id="nq-second"), SETTINGS))
    assert ntlm_ews_peer.auth_seen == ["ntlm", "ntlm"]
    assert len(ntlm_ews_peer.requests) == 2 and ntlm_ews_peer.invalid == []


def test_ntlm_with_a_wrong_password_is_permanent(ntlm_ews_peer: EwsPeer) -> None:
    mailer = EwsMailer(EwsConfig(endpoint=ntlm_ews_peer.url, sender=SENDER, username="EXAMPLE\\svc-voicemail",
                                 password="wrong", auth="ntlm", timeout=5))
    with pytest.raises(PermanentError, match="401"):
        mailer.send(compose(facts(internal()), SETTINGS))
    assert ntlm_ews_peer.requests == []


def test_oauth2_gets_one_token_and_impersonates_the_sender(ews_peer: EwsPeer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the test peer speaks plain HTTP on loopback
    mailer = EwsMailer(EwsConfig(endpoint=ews_peer.url, sender=SENDER, username=ews_peer.client_id,
                                 password=ews_peer.client_secret, auth="oauth2", tenant_id="contoso",
                                 authority=ews_peer.origin, timeout=5))
    mailer.send(compose(facts(internal()), SETTINGS))
    mailer.send(compose(facts(internal(), notification_id="nq-second"), SETTINGS))
    assert ews_peer.tokens_issued == 1
    assert ews_peer.auth_seen == ["bearer", "bearer"]
    header = parse_xml(ews_peer.requests[0]).find(f"{{{SOAP}}}Header")
    assert header is not None
    assert header.findtext(f".//{{{T}}}PrimarySmtpAddress") == SENDER
    assert ews_peer.invalid == []


def test_401_is_permanent(ews_peer: EwsPeer) -> None:
    ews_peer.mode = "unauthorized"
    with pytest.raises(PermanentError, match="401"):
        basic_mailer(ews_peer).send(compose(facts(internal()), SETTINGS))


def test_403_is_permanent(ews_peer: EwsPeer) -> None:
    ews_peer.mode = "forbidden"
    with pytest.raises(PermanentError, match="403"):
        basic_mailer(ews_peer).send(compose(facts(internal()), SETTINGS))


def test_server_busy_is_transient_and_carries_the_back_off_hint(ews_peer: EwsPeer) -> None:
    ews_peer.mode, ews_peer.busy_ms = "busy", 297_749
    with pytest.raises(RetryLater) as caught:
        basic_mailer(ews_peer).send(compose(facts(internal()), SETTINGS))
    assert caught.value.retry_after == pytest.approx(297.749)
    assert isinstance(caught.value, TransientError)
    assert len(ews_peer.requests) == 1  # FailFast: exchangelib did not retry on its own


def test_http_500_is_transient(ews_peer: EwsPeer) -> None:
    ews_peer.mode = "error500"
    with pytest.raises(TransientError) as caught:
        basic_mailer(ews_peer).send(compose(facts(internal()), SETTINGS))
    assert not isinstance(caught.value, PermanentError)
    assert len(ews_peer.requests) == 1


def test_http_503_retry_after_is_the_hint(ews_peer: EwsPeer) -> None:
    ews_peer.mode, ews_peer.retry_after = "throttled", "42"
    with pytest.raises(RetryLater) as caught:
        basic_mailer(ews_peer).send(compose(facts(internal()), SETTINGS))
    assert caught.value.retry_after == 42.0


def test_a_hanging_server_is_a_transient_timeout(ews_peer: EwsPeer) -> None:
    ews_peer.mode = "hang"
    started = time.monotonic()
    with pytest.raises(TransientError, match="ErrorTimeoutExpired"):
        basic_mailer(ews_peer, timeout=0.5).send(compose(facts(internal()), SETTINGS))
    assert time.monotonic() - started < 4.0  # bounded by our timeout, not the server


def test_invalid_recipient_is_permanent(ews_peer: EwsPeer) -> None:
    ews_peer.mode = "invalid_recipient"
    with pytest.raises(PermanentError, match="ErrorInvalidRecipients"):
        basic_mailer(ews_peer).send(compose(facts(internal()), SETTINGS))


def test_schema_fault_is_permanent(ews_peer: EwsPeer) -> None:
    ews_peer.mode = "schema_fault"
    with pytest.raises(PermanentError, match="ErrorSchemaValidation"):
        basic_mailer(ews_peer).send(compose(facts(internal()), SETTINGS))


def test_error_messages_quote_no_server_text(ews_peer: EwsPeer) -> None:
    ews_peer.mode = "invalid_recipient"
    with pytest.raises(PermanentError) as caught:
        basic_mailer(ews_peer).send(compose(facts(internal()), SETTINGS))
    assert "recipient isn't valid" not in str(caught.value)


def test_the_peer_refuses_a_request_that_breaks_the_schema(ews_peer: EwsPeer) -> None:
    # Guards the validation above: a CreateItem with an element out of place is caught and answered with
    # ErrorSchemaValidation, which the sender reports as permanent.
    import requests

    good = basic_mailer(ews_peer).render_request(compose(facts(internal()), SETTINGS))
    broken = good.replace(b"<t:Sensitivity>Private</t:Sensitivity>", b"").replace(
        b"<t:Importance>Normal</t:Importance>", b"<t:Importance>Normal</t:Importance>"
        b"<t:Sensitivity>Private</t:Sensitivity>")
    response = requests.post(ews_peer.url, data=broken, auth=(ews_peer.username, ews_peer.password), timeout=5)
    assert response.status_code == 500 and b"ErrorSchemaValidation" in response.content
    assert ews_peer.invalid and ews_peer.requests == []
