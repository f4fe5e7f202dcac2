"""The web's authorization checks on a request of a signed-in person (no server): who gets past, what
each refusal answers (NotFound "not found", whatever was asked) and what it writes to the real audit
trail (SQLite, migrated): who, what, from where, why, outcome "denied"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import Request
from sqlalchemy.engine import Engine

from voicemail.audit.chain import ChainedEvent
from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_engine
from voicemail.db.migrate import upgrade
from voicemail.domain.errors import InvalidInput, NotFound
from voicemail.domain.mailbox import Viewer
from voicemail.domain.models import MailboxRef
from voicemail.web.accounts_store import Account
from voicemail.web.authz import (
    call_id,
    mailbox_ref,
    may_list,
    message_id,
    owner_viewer,
    require_administrator,
    require_listing,
    viewer,
    viewer_of,
)
from voicemail.web.sessions import Authed, SignInRequired
from voicemail.web.sessions_store import SessionInfo

BOX = MailboxRef("default", "1001")
OTHER = MailboxRef("default", "1002")
FROM = "203.0.113.7"
MID = "3f2b8c1e-0000-4000-8000-0123456789ab"


def account(name: str, roles: set[str], mailboxes: tuple[MailboxRef, ...] = (),
            numbers: tuple[str, ...] = ()) -> Account:
    return Account(id=1, username=name, password_hash=None, roles=frozenset(roles), mailboxes=mailboxes,
                   numbers=numbers, notify_address="", timezone="", language="", totp_enabled=False,
                   failed_count=0, locked_until=None, disabled=False)


ALICE = account("alice", {"owner"}, (BOX,), ("1001", "+3225550101"))
ROOT = account("root", {"administrator"}, (OTHER,))  # mailboxes on the account, but not an owner
BOTH = account("carol", {"owner", "administrator"}, (OTHER,))
NOBODY = account("dave", {"owner"})  # an owner role without any mailbox
AUDITOR = account("erin", {"auditor"}, (BOX,))


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditLog]:
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(engine)
    yield AuditLog(engine)
    engine.dispose()


def request_of(audit: AuditLog, who: Account | None, client: str = FROM) -> Request:
    """A request as the web layer sees it once the session was looked up (``request.state.authed``)."""
    authed = None if who is None else Authed(SessionInfo("h", who.id, "csrf", "password", 0.0, 0.0), who)
    app = SimpleNamespace(state=SimpleNamespace(web=SimpleNamespace(audit=audit)))
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b"",
                    "app": app, "client": (client, 50000), "state": {"authed": authed}})


def denials(audit: AuditLog) -> list[tuple[str, str, str, str, str, str | None, dict[str, object]]]:
    def one(e: ChainedEvent) -> tuple[str, str, str, str, str, str | None, dict[str, object]]:
        return (e.actor, e.action, e.outcome, e.source, e.reason, e.message_id, json.loads(e.details))
    return [one(e) for e in audit.events()]


def test_an_owner_sees_their_own_mailboxes_numbers_and_address() -> None:
    v = viewer_of(Authed(SessionInfo("h", 1, "c", "password", 0.0, 0.0), ALICE), FROM)
    assert (v.account, v.roles, v.mailboxes, v.source, v.numbers) == (
        "alice", frozenset({"owner"}), (BOX,), FROM, ("1001", "+3225550101"))


def test_mailboxes_of_an_account_without_the_owner_role_are_not_its_own() -> None:
    for who in (ROOT, AUDITOR):
        assert viewer_of(Authed(SessionInfo("h", 1, "c", "password", 0.0, 0.0), who), FROM).mailboxes == ()
    assert viewer_of(Authed(SessionInfo("h", 1, "c", "password", 0.0, 0.0), BOTH), FROM).mailboxes == (OTHER,)


def test_the_viewer_of_a_request_comes_from_its_session_and_client_address(audit: AuditLog) -> None:
    v = viewer(request_of(audit, ALICE, "198.51.100.4"))
    assert (v.account, v.mailboxes, v.source) == ("alice", (BOX,), "198.51.100.4")
    with pytest.raises(SignInRequired):
        viewer(request_of(audit, None))


def test_owner_lists_own_mailbox_administrator_any_and_others_none() -> None:
    def v(who: Account) -> Viewer:
        return viewer_of(Authed(SessionInfo("h", 1, "c", "password", 0.0, 0.0), who), FROM)
    assert may_list(v(ALICE), BOX) and not may_list(v(ALICE), OTHER)
    assert may_list(v(ROOT), BOX) and may_list(v(ROOT), OTHER)
    assert not may_list(v(AUDITOR), BOX) and not may_list(v(NOBODY), BOX)


def test_listing_someone_elses_mailbox_is_not_found_and_audited(audit: AuditLog) -> None:
    require_listing(request_of(audit, ALICE), viewer(request_of(audit, ALICE)), BOX)
    require_listing(request_of(audit, ROOT), viewer(request_of(audit, ROOT)), BOX)
    assert denials(audit) == []  # allowed: nothing written
    request = request_of(audit, ALICE)
    with pytest.raises(NotFound) as refused:
        require_listing(request, viewer(request), OTHER)
    assert str(refused.value) == "not found"
    assert denials(audit) == [("alice", "mailbox.list", "denied", FROM, "not the owner of this mailbox", None,
                               {"mailbox": "1002@default"})]


@pytest.mark.parametrize("who", [ROOT, AUDITOR, NOBODY])
def test_audio_and_actions_are_refused_to_anyone_but_an_owner_of_a_mailbox(audit: AuditLog, who: Account) -> None:
    with pytest.raises(NotFound) as refused:
        owner_viewer(request_of(audit, who), "audio.play", MID, format="wav")
    assert str(refused.value) == "not found"
    assert denials(audit) == [(who.username, "audio.play", "denied", FROM, "not a mailbox owner", MID,
                               {"format": "wav"})]


def test_an_owner_gets_past_the_audio_check_and_nothing_is_audited(audit: AuditLog) -> None:
    v = owner_viewer(request_of(audit, ALICE), "audio.play", MID)
    assert (v.account, v.mailboxes) == ("alice", (BOX,))
    assert owner_viewer(request_of(audit, BOTH), "message.delete", None).mailboxes == (OTHER,)
    assert denials(audit) == []


def test_a_refusal_without_a_message_records_none(audit: AuditLog) -> None:
    with pytest.raises(NotFound):
        owner_viewer(request_of(audit, ROOT), "calls.place", None)
    assert denials(audit) == [("root", "calls.place", "denied", FROM, "not a mailbox owner", None, {})]


def test_administrator_pages_are_refused_to_owners_and_audited(audit: AuditLog) -> None:
    assert require_administrator(request_of(audit, ROOT), "operations.view").account == "root"
    assert require_administrator(request_of(audit, BOTH), "operations.view").account == "carol"
    assert denials(audit) == []
    for who in (ALICE, AUDITOR):
        with pytest.raises(NotFound) as refused:
            require_administrator(request_of(audit, who), "operations.view")
        assert str(refused.value) == "not found"
    assert denials(audit) == [(w, "operations.view", "denied", FROM, "not an administrator", None, {})
                              for w in ("alice", "erin")]


def test_nobody_signed_in_is_sent_to_sign_in_and_nothing_is_audited(audit: AuditLog) -> None:
    with pytest.raises(SignInRequired):
        owner_viewer(request_of(audit, None), "audio.play", MID)
    with pytest.raises(SignInRequired):
        require_administrator(request_of(audit, None), "operations.view")
    assert denials(audit) == []


@pytest.mark.parametrize("good", ["a" * 8, "A" * 32, "Ab3-_x9Z", "aB-_" * 4, "0123456789abcdef"])
def test_play_on_phone_call_ids_of_8_to_32_url_safe_characters_are_accepted(good: str) -> None:
    assert call_id(good) == good


@pytest.mark.parametrize("bad", ["", None, "a" * 7, "a" * 33, "abc.defgh", "abc/defgh", "abcd efgh",
                                 "é" * 10, "١٢٣٤٥٦٧٨", "abcdefg\n", "--------_"])
def test_other_call_ids_are_refused(bad: str | None) -> None:
    with pytest.raises(InvalidInput) as refused:
        call_id(bad)  # type: ignore[arg-type]
    assert str(refused.value) == "invalid call id"


def test_a_mailbox_reference_keeps_context_and_mailbox_apart() -> None:
    assert mailbox_ref("sales", "1001") == MailboxRef(context="sales", mailbox="1001")


def test_message_ids_are_lower_case_uuids_with_nothing_after_them() -> None:
    assert message_id(MID.upper()) == MID
    for bad in (None, MID + "\n", " " + MID, MID.replace("-", "")):
        with pytest.raises(InvalidInput) as refused:
            message_id(bad)  # type: ignore[arg-type]
        assert str(refused.value) == "invalid message id"
