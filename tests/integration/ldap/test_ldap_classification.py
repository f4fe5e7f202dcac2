"""The internal/external decision on a directory synced from a real OpenLDAP, table-driven, and failing
closed when the directory is unreachable and the synced copy is too old."""

from __future__ import annotations

import datetime as dt
import logging
import socket

import pytest

from tests.integration.ldap.conftest import Site
from tests.integration.ldap.slapd import Slapd, user_spec
from voicemail.directory import Classifier, Verdict
from voicemail.directory.errors import DirectoryUnavailable
from voicemail.domain.models import Caller, CallerKind, Envelope

INTERNAL = "vm-internal"
TRUNK = "from-trunk"
FIVE = "Test User 00005"


def envelope(context: str, callerid: str) -> Envelope:
    return Envelope(msg_id="1700000000-00000001", origmailbox="2001", context=context, exten="2001",
                    callerid=callerid, origtime=1700000000, duration=4)


CASES = [
    # (context, caller id, expected name or None for external, verdict)
    (INTERNAL, '"Whoever" <1005>', FIVE, Verdict.INTERNAL),
    (INTERNAL, "<+1 202 555 1005>", FIVE, Verdict.INTERNAL),
    (INTERNAL, "202 555 1005", FIVE, Verdict.INTERNAL),  # national format (region US)
    (INTERNAL, "<202.555.1005>", FIVE, Verdict.INTERNAL),
    (INTERNAL, "<1004>", "Test User 00004", Verdict.INTERNAL),  # stored as "+1 202 555 1004"
    (INTERNAL, "<2025551003>", "Test User 00003", Verdict.INTERNAL),  # stored as "(202) 555-1003"
    (INTERNAL, '"Five" <12025551005>', FIVE, Verdict.INTERNAL),
    (INTERNAL, "<+13015550005>", FIVE, Verdict.INTERNAL),  # the mobile, from an internal context (FMC)
    (TRUNK, '"Test User 00005" <1005>', None, Verdict.UNTRUSTED_CONTEXT),  # spoofed extension from the trunk
    (TRUNK, "<+12025551005>", None, Verdict.UNTRUSTED_CONTEXT),  # spoofed DID from the trunk
    (INTERNAL, "<1009>", None, Verdict.UNKNOWN_NUMBER),  # a disabled account
    (INTERNAL, "<1999>", None, Verdict.UNKNOWN_NUMBER),  # inside the DID plan, nobody has it
    (INTERNAL, "<+442079460000>", None, Verdict.UNKNOWN_NUMBER),
    (INTERNAL, "Anonymous <anonymous>", None, Verdict.NO_NUMBER),
    (INTERNAL, "", None, Verdict.NO_NUMBER),
    (INTERNAL, "Unknown", None, Verdict.NO_NUMBER),
    (INTERNAL, "<sip:1005@evil.example>", None, Verdict.NO_NUMBER),
    (INTERNAL, '"x" <1005\r\nBcc: victim@example.test>', None, Verdict.NO_NUMBER),
]


@pytest.mark.parametrize(("context", "callerid", "name", "verdict"), CASES)
def test_classification_after_a_real_sync(synced_site: Site, context: str, callerid: str, name: str | None,
                                          verdict: Verdict) -> None:
    classifier = Classifier(frozenset({INTERNAL}), synced_site.directory())

    caller = classifier(envelope(context, callerid))

    if name is None:
        assert caller == Caller.external()
    else:
        assert caller.kind is CallerKind.INTERNAL and caller.name == name
    assert classifier.counters.snapshot()[verdict.value] == 1


@pytest.fixture
def synced(site: Site) -> Site:
    site.sync().run()
    return site


def test_a_directory_that_was_never_synced_makes_everybody_external(site: Site, slapd: Slapd) -> None:
    slapd.stop()
    with pytest.raises(DirectoryUnavailable):
        site.sync().run()
    classifier = Classifier(frozenset({INTERNAL}), site.directory())

    assert classifier(envelope(INTERNAL, "<1005>")) == Caller.external()
    assert classifier.counters.snapshot()["directory_unavailable"] == 1


def test_an_unreachable_directory_keeps_the_fresh_copy_then_fails_closed(
        synced: Site, slapd: Slapd, caplog: pytest.LogCaptureFixture) -> None:
    slapd.kill()
    with pytest.raises(DirectoryUnavailable):
        synced.sync().run()
    state = synced.store.state()
    assert state is not None and state.last_success_at is not None and state.last_error

    now = state.last_success_at
    clock = {"now": now + dt.timedelta(hours=1)}
    classifier = Classifier(frozenset({INTERNAL}), synced.directory(clock=lambda: clock["now"]))
    assert classifier(envelope(INTERNAL, '"Five" <1005>')).name == FIVE  # 1 h old copy: still trusted

    clock["now"] = now + dt.timedelta(seconds=synced.settings.directory_max_age + 1)
    with caplog.at_level(logging.INFO):
        caller = classifier(envelope(INTERNAL, '"Five" <1005>'))

    assert caller == Caller.external()
    assert classifier.counters.snapshot() == {"internal": 1, "untrusted_context": 0, "no_number": 0,
                                              "unknown_number": 0, "directory_unavailable": 1}
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "directory is unavailable" in logged and "not trusted" in logged
    for secret in ("1005", "Five", FIVE, "5551005"):
        assert secret not in logged


def test_a_closed_port_is_unavailable_not_a_crash(site: Site) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed

    with pytest.raises(DirectoryUnavailable, match="cannot connect"):
        site.sync(ldap_url=f"ldap://localhost:{port}").run()


def test_spoofed_internal_number_from_the_trunk_is_external_even_for_an_active_user(synced_site: Site) -> None:
    spec = user_spec(5)
    classifier = Classifier(frozenset({INTERNAL}), synced_site.directory())
    for number in (spec.extension, spec.did, "202-555-1005"):
        assert classifier(envelope(TRUNK, f'"{spec.name}" <{number}>')) == Caller.external()
        assert classifier(envelope(INTERNAL, f"<{number}>")).kind is CallerKind.INTERNAL
