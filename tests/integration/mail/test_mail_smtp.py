"""The SMTP sender against a real SMTP server (aiosmtpd): STARTTLS, implicit TLS, plain; AUTH; refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailer import compose, render_rfc5322
from mailer.smtp import SmtpConfig, SmtpMailer
from tests.integration.mail.smtp_peer import SmtpPeer, running_smtp_peer
from tests.integration.mail.tls import TestCertificates
from tests.unit.mailer.mailer_testdata import SENT, SETTINGS, facts, internal, leaks, parse, spoofed_external
from voicemail.domain.errors import PermanentError, TransientError

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
SENDER = "voicemail@example.org"
OWNER = "alice@example.test"


def smtp_mailer(peer: SmtpPeer, certificates: TestCertificates, **changes: object) -> SmtpMailer:
    settings: dict[str, object] = {"host": "127.0.0.1", "port": peer.port, "tls": peer.tls, "sender": SENDER,
                                   "ca_file": str(certificates.ca_file), "timeout": 5.0}
    if peer.tls != "none":
        settings.update(username=peer.username, password=peer.password)
    settings.update(changes)
    return SmtpMailer(SmtpConfig(**settings), clock=lambda: SENT)  # type: ignore[arg-type]


@pytest.fixture(params=["starttls", "implicit", "none"])
def smtp_peer(request: pytest.FixtureRequest, certificates: TestCertificates) -> Iterator[SmtpPeer]:
    with running_smtp_peer(request.param, certificates.server_context()) as peer:
        yield peer


@pytest.fixture
def starttls_peer(certificates: TestCertificates) -> Iterator[SmtpPeer]:
    with running_smtp_peer("starttls", certificates.server_context()) as peer:
        yield peer


def test_the_server_receives_exactly_the_rendered_message(smtp_peer: SmtpPeer,
                                                          certificates: TestCertificates) -> None:
    email = compose(facts(internal(), urgent=True), SETTINGS)
    mailer = smtp_mailer(smtp_peer, certificates)
    mailer.send(email)
    [delivered] = smtp_peer.delivered
    assert delivered.mail_from == SENDER
    assert delivered.rcpt_tos == [OWNER]
    assert delivered.content == render_rfc5322(email, date=SENT)
    message = parse(delivered.content)
    assert message["Subject"] == "[Urgent] Voice message from Bob Colleague (1002)"
    assert message["Importance"] == "High" and message["Sensitivity"] == "Private"


def test_an_outside_caller_leaves_no_trace_in_what_the_server_received(starttls_peer: SmtpPeer,
                                                                       certificates: TestCertificates) -> None:
    smtp_mailer(starttls_peer, certificates).send(compose(facts(spoofed_external()), SETTINGS))
    [delivered] = starttls_peer.delivered
    assert leaks(delivered.content) == []


def test_one_connection_carries_several_notifications(starttls_peer: SmtpPeer,
                                                      certificates: TestCertificates) -> None:
    mailer = smtp_mailer(starttls_peer, certificates)
    for n in range(3):
        mailer.send(compose(facts(internal(), notification_id=f"nq-{n}"), SETTINGS))
    assert len(starttls_peer.delivered) == 3
    assert len({d.peer for d in starttls_peer.delivered}) == 1  # one client port: one connection
    mailer.close()


def test_a_restarted_server_is_reconnected_to_without_losing_the_message(certificates: TestCertificates) -> None:
    with running_smtp_peer("starttls", certificates.server_context()) as first:
        mailer = smtp_mailer(first, certificates)
        mailer.send(compose(facts(internal(), notification_id="nq-before"), SETTINGS))
        port = first.port
    second = SmtpPeer(tls="starttls", context=certificates.server_context(), port=port).start()
    try:
        mailer.send(compose(facts(internal(), notification_id="nq-after"), SETTINGS))  # stale connection
        assert [parse(d.content)["X-Voicemail-Id"] for d in second.delivered] == ["nq-after"]
    finally:
        second.stop()


def test_an_unknown_recipient_is_permanent(starttls_peer: SmtpPeer, certificates: TestCertificates) -> None:
    starttls_peer.recorder.refuse.add(OWNER)
    mailer = smtp_mailer(starttls_peer, certificates)
    with pytest.raises(PermanentError, match="550"):
        mailer.send(compose(facts(internal()), SETTINGS))
    starttls_peer.recorder.refuse.clear()
    mailer.send(compose(facts(internal()), SETTINGS))  # the connection is still usable
    assert len(starttls_peer.delivered) == 1


def test_a_deferred_recipient_is_transient(starttls_peer: SmtpPeer, certificates: TestCertificates) -> None:
    starttls_peer.recorder.defer.add(OWNER)
    with pytest.raises(TransientError, match="451") as caught:
        smtp_mailer(starttls_peer, certificates).send(compose(facts(internal()), SETTINGS))
    assert not isinstance(caught.value, PermanentError)
    assert starttls_peer.delivered == []


def test_a_wrong_password_is_permanent(starttls_peer: SmtpPeer, certificates: TestCertificates) -> None:
    with pytest.raises(PermanentError, match="535"):
        smtp_mailer(starttls_peer, certificates, password="wrong").send(compose(facts(internal()), SETTINGS))


def test_an_untrusted_server_certificate_is_permanent(starttls_peer: SmtpPeer,
                                                      certificates: TestCertificates) -> None:
    with pytest.raises(PermanentError, match="not trusted"):
        smtp_mailer(starttls_peer, certificates, ca_file="").send(compose(facts(internal()), SETTINGS))
    assert starttls_peer.delivered == []


def test_starttls_is_required_when_configured(certificates: TestCertificates) -> None:
    with running_smtp_peer("none") as plain:
        mailer = smtp_mailer(plain, certificates, tls="starttls")
        with pytest.raises(PermanentError, match="extension"):
            mailer.send(compose(facts(internal()), SETTINGS))
        assert plain.delivered == []


def test_a_server_that_is_down_is_transient(certificates: TestCertificates) -> None:
    with running_smtp_peer("none") as peer:
        mailer = smtp_mailer(peer, certificates)
    with pytest.raises(TransientError, match="unreachable"):
        mailer.send(compose(facts(internal()), SETTINGS))
