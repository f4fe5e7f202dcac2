"""The senders' last-moment gate (``before_commit``): when it refuses, nothing is delivered. SMTP: the
message is sent but not its final dot, and the connection is dropped, so a real server (aiosmtpd)
discards it; the next send works on a fresh connection. Outbox: no .eml appears."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer import compose
from mailer.outbox import OutboxMailer
from mailer.smtp import SmtpConfig, SmtpMailer
from tests.integration.mail.smtp_peer import running_smtp_peer
from tests.unit.mailer.mailer_testdata import SENT, SETTINGS, facts, internal
from voicemail.domain.errors import LeaseLost


def refuse() -> None:
    raise LeaseLost("another worker took it over")


def test_smtp_send_abandoned_before_the_final_dot_delivers_nothing() -> None:
    with running_smtp_peer("none") as peer:
        mailer = SmtpMailer(SmtpConfig(host="127.0.0.1", port=peer.port, tls="none", sender="vm@example.org",
                                       timeout=5.0), clock=lambda: SENT)
        email = compose(facts(internal()), SETTINGS)
        with pytest.raises(LeaseLost):
            mailer.send(email, before_commit=refuse)
        allowed: list[bool] = []
        mailer.send(email, before_commit=lambda: allowed.append(True))
        mailer.close()
        assert allowed == [True]
        assert len(peer.delivered) == 1  # only the allowed send reached the server


def test_outbox_send_abandoned_before_the_rename_writes_nothing(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path / "outbox")
    email = compose(facts(internal()), SETTINGS)
    with pytest.raises(LeaseLost):
        mailer.send(email, before_commit=refuse)
    assert list((tmp_path / "outbox").iterdir()) == []  # no .eml, and no temporary file left either
    mailer.send(email)
    assert [p.suffix for p in (tmp_path / "outbox").iterdir()] == [".eml"]
