"""The Microsoft Graph sender against a local HTTPS Graph + token endpoint (msal, client credentials)."""

from __future__ import annotations

import json
import time

import pytest

from mailer import compose
from mailer.errors import RetryLater
from mailer.graph import GraphConfig, GraphMailer, render_graph_request
from tests.integration.mail.graph_peer import GraphPeer
from tests.integration.mail.tls import TestCertificates
from tests.unit.mailer.mailer_testdata import NOTIFICATION_ID, SETTINGS, facts, internal, leaks, spoofed_external
from voicemail.domain.errors import PermanentError, TransientError

SENDER = "voicemail@example.org"


def graph_mailer(peer: GraphPeer, certificates: TestCertificates, **changes: object) -> GraphMailer:
    settings: dict[str, object] = {
        "tenant_id": peer.tenant, "client_id": peer.client_id, "client_secret": peer.client_secret,
        "sender": SENDER, "authority": peer.origin, "endpoint": peer.origin, "timeout": 5.0,
        "ca_file": str(certificates.ca_file), **changes}
    return GraphMailer(GraphConfig(**settings))  # type: ignore[arg-type]


def test_send_mail_posts_one_accepted_message_from_the_sender(graph_peer: GraphPeer,
                                                             certificates: TestCertificates) -> None:
    graph_mailer(graph_peer, certificates).send(compose(facts(internal(), urgent=True), SETTINGS))
    assert graph_peer.invalid == []
    assert graph_peer.paths == [f"/v1.0/users/{SENDER}/sendMail"]
    [payload] = graph_peer.messages
    message = payload["message"]
    assert payload["saveToSentItems"] is False
    assert message["subject"] == "[Urgent] Voice message from Bob Colleague (1002)"
    assert message["importance"] == "high"
    assert message["toRecipients"] == [{"emailAddress": {"address": "alice@example.test"}}]
    assert message["internetMessageHeaders"] == [{"name": "X-Voicemail-Id", "value": NOTIFICATION_ID}]
    assert message["singleValueExtendedProperties"] == [{"id": "Integer 0x0036", "value": "2"}]  # Private
    assert message["body"]["contentType"] == "HTML"


def test_the_token_is_fetched_once_and_reused(graph_peer: GraphPeer, certificates: TestCertificates) -> None:
    mailer = graph_mailer(graph_peer, certificates)
    for n in range(3):
        mailer.send(compose(facts(internal(), notification_id=f"nq-{n}"), SETTINGS))
    assert len(graph_peer.messages) == 3
    assert graph_peer.tokens_issued == 1
    assert graph_peer.token_scopes == [f"{graph_peer.origin}/.default"]


def test_what_is_sent_is_exactly_the_rendered_json(graph_peer: GraphPeer, certificates: TestCertificates) -> None:
    email = compose(facts(spoofed_external()), SETTINGS)
    graph_mailer(graph_peer, certificates).send(email)
    assert graph_peer.raw == [render_graph_request(email)]
    assert leaks(json.dumps(graph_peer.messages[0], ensure_ascii=False)) == []


@pytest.mark.parametrize("mode", ["throttled", "unavailable"])
def test_429_and_503_are_transient_with_the_retry_after_hint(graph_peer: GraphPeer, certificates: TestCertificates,
                                                             mode: str) -> None:
    graph_peer.mode, graph_peer.retry_after = mode, "37"
    with pytest.raises(RetryLater) as caught:
        graph_mailer(graph_peer, certificates).send(compose(facts(internal()), SETTINGS))
    assert caught.value.retry_after == 37.0


def test_retry_after_as_an_http_date_is_honoured(graph_peer: GraphPeer, certificates: TestCertificates) -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    graph_peer.mode = "throttled"
    graph_peer.retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    with pytest.raises(RetryLater) as caught:
        graph_mailer(graph_peer, certificates).send(compose(facts(internal()), SETTINGS))
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120


def test_500_is_transient(graph_peer: GraphPeer, certificates: TestCertificates) -> None:
    graph_peer.mode = "error500"
    with pytest.raises(TransientError):
        graph_mailer(graph_peer, certificates).send(compose(facts(internal()), SETTINGS))


@pytest.mark.parametrize(("mode", "status"), [("unauthorized", "401"), ("forbidden", "403")])
def test_401_and_403_are_permanent_and_drop_the_cached_token(graph_peer: GraphPeer, certificates: TestCertificates,
                                                             mode: str, status: str) -> None:
    mailer = graph_mailer(graph_peer, certificates)
    graph_peer.mode = mode
    with pytest.raises(PermanentError, match=status):
        mailer.send(compose(facts(internal()), SETTINGS))
    graph_peer.mode = "ok"  # the administrator fixed the permission: the next try gets a fresh token
    mailer.send(compose(facts(internal()), SETTINGS))
    assert graph_peer.tokens_issued == 2
    assert len(graph_peer.messages) == 1


def test_invalid_recipient_is_permanent(graph_peer: GraphPeer, certificates: TestCertificates) -> None:
    graph_peer.mode = "invalid_recipient"
    with pytest.raises(PermanentError, match="ErrorInvalidRecipients"):
        graph_mailer(graph_peer, certificates).send(compose(facts(internal()), SETTINGS))


def test_a_wrong_client_secret_is_permanent(graph_peer: GraphPeer, certificates: TestCertificates) -> None:
    with pytest.raises(PermanentError, match="invalid_client"):
        graph_mailer(graph_peer, certificates, client_secret="wrong").send(compose(facts(internal()), SETTINGS))
    assert graph_peer.messages == []


def test_an_unknown_tenant_is_permanent(graph_peer: GraphPeer, certificates: TestCertificates) -> None:
    with pytest.raises(PermanentError, match="tenant"):
        graph_mailer(graph_peer, certificates, tenant_id="nobody.example").send(
            compose(facts(internal()), SETTINGS))


def test_an_untrusted_certificate_is_permanent(graph_peer: GraphPeer, certificates: TestCertificates) -> None:
    with pytest.raises(PermanentError, match="not trusted"):
        graph_mailer(graph_peer, certificates, ca_file="").send(compose(facts(internal()), SETTINGS))


def test_a_hanging_graph_is_a_transient_timeout(graph_peer: GraphPeer, certificates: TestCertificates) -> None:
    mailer = graph_mailer(graph_peer, certificates, timeout=0.5)
    mailer.send(compose(facts(internal()), SETTINGS))  # token and discovery while the peer still answers
    graph_peer.mode = "hang"
    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out"):
        mailer.send(compose(facts(internal(), notification_id="nq-hang"), SETTINGS))
    assert time.monotonic() - started < 4.0


def test_the_peer_refuses_an_unknown_property(graph_peer: GraphPeer, certificates: TestCertificates) -> None:
    # Guards the shape check the tests above rely on.
    import requests

    body = json.loads(render_graph_request(compose(facts(internal()), SETTINGS)))
    body["message"]["sensitivity"] = "private"  # not a property of message in Graph v1.0
    response = requests.post(f"{graph_peer.origin}/v1.0/users/{SENDER}/sendMail", json=body, timeout=5,
                             headers={"Authorization": "Bearer graph-token-0"}, verify=str(certificates.ca_file))
    assert response.status_code == 400
    assert graph_peer.invalid == ["unknown property message.sensitivity"]
