"""The telephone menu as a pure state machine: AGI replies in (as in captures q9/q9b/q9c), commands and
mailbox requests out."""

from __future__ import annotations

import pytest

from tests.unit.phone.sim import DEAD, HANGUP, Mailbox, digits, key, run
from voicemail.phone import effects as fx
from voicemail.phone.dialog import MenuSettings
from voicemail.phone.menu import CallStart, identify, menu

SETTINGS = MenuSettings()
FROM_COLLEAGUE = fx.MessageInfo("m1", "INBOX", 1796324700, False, "1002")
FROM_OUTSIDE = fx.MessageInfo("m2", "INBOX", 1796328300, True, None)
OLD = fx.MessageInfo("m3", "Old", 1796200000, False, None)
GOODBYE = ['STREAM FILE vm-goodbye ""', "HANGUP"]


def box(*messages: fx.MessageInfo) -> Mailbox:
    return Mailbox(new=[m for m in messages if m.folder == "INBOX"], old=[m for m in messages if m.folder == "Old"])


def requests(mb: Mailbox, kind: type) -> list[object]:
    return [r for r in mb.requests if isinstance(r, kind)]


def test_own_mailbox_shortcut_asks_only_for_the_pin_and_hash_says_goodbye() -> None:
    mb = box()
    call = run(menu(CallStart("1001"), SETTINGS), [("vm-password", digits("4242")), ("vm-opts", key("#"))], mb)
    assert call.commands[0] == "GET DATA vm-password 5000 20"
    assert requests(mb, fx.Login) == [fx.Login("1001", "4242")]
    assert call.commands[1:4] == ['STREAM FILE vm-youhave "0123456789*#"', 'STREAM FILE vm-no "0123456789*#"',
                                  'STREAM FILE vm-messages "0123456789*#"']
    assert call.commands[-2:] == GOODBYE and call.finished


def test_without_a_trusted_mailbox_the_menu_asks_for_it() -> None:
    mb = box()
    call = run(menu(CallStart(), SETTINGS), [("vm-login", digits("1001")), ("vm-password", digits("4242")),
                                             ("vm-opts", key("#"))], mb)
    assert call.commands[:2] == ["GET DATA vm-login 5000 20", "GET DATA vm-password 5000 20"]
    assert requests(mb, fx.Login) == [fx.Login("1001", "4242")]


@pytest.mark.parametrize(("argument", "context", "expected"), [
    ("1001@default", "phones-internal", "1001@default"),
    ("1001", "phones-internal", "1001"),
    ("1001@default", "from-trunk", None),  # an outside call may not claim a mailbox
    (None, "phones-internal", None),
    ("../1001", "phones-internal", None),
    ("1001@de fault", "phones-internal", None),
])
def test_the_mailbox_argument_is_believed_only_from_a_trusted_context(argument: str | None, context: str,
                                                                      expected: str | None) -> None:
    assert identify(argument, context, frozenset({"phones-internal"})).mailbox == expected


def test_three_wrong_pins_say_incorrect_each_time_then_goodbye() -> None:
    mb = box(FROM_COLLEAGUE)
    script = [("vm-password", digits("1111")), ("vm-password", digits("2222")), ("vm-password", digits("4243"))]
    call = run(menu(CallStart("1001"), SETTINGS), script, mb)
    assert len(requests(mb, fx.Login)) == 3
    assert call.commands.count('STREAM FILE vm-incorrect ""') == 3
    assert call.commands[-2:] == GOODBYE
    assert not requests(mb, fx.ListMessages)  # nothing of the mailbox was touched


def test_unknown_mailbox_sounds_like_a_wrong_pin() -> None:
    mb = box()
    call = run(menu(CallStart(), SETTINGS), [("vm-login", digits("9999")), ("vm-password", digits("4242"))], mb)
    assert call.commands[:3] == ["GET DATA vm-login 5000 20", "GET DATA vm-password 5000 20",
                                 'STREAM FILE vm-incorrect ""']


def test_a_silent_caller_hears_the_menu_three_times_then_goodbye() -> None:
    mb = box(FROM_COLLEAGUE)
    call = run(menu(CallStart("1001"), SETTINGS), [("vm-password", digits("4242"))], mb)
    assert call.commands.count("WAIT FOR DIGIT 6000") == 3
    assert call.commands.count('STREAM FILE vm-onefor "0123456789*#"') == 3
    assert call.commands[-2:] == GOODBYE


def test_silence_at_login_ends_politely() -> None:
    call = run(menu(CallStart(), SETTINGS), [], box())
    assert call.commands.count("GET DATA vm-login 5000 20") == 3
    assert call.commands[-2:] == GOODBYE


def test_listen_plays_envelope_then_staged_audio_and_9_saves_to_old() -> None:
    mb = box(FROM_COLLEAGUE)
    script = [("vm-password", digits("4242")), ("vm-onefor", key("1")), ("WAIT FOR DIGIT", key("9")),
              ("vm-nomore", key("#"))]
    call = run(menu(CallStart("1001"), SETTINGS), script, mb)
    play = call.commands.index('CONTROL STREAM FILE /run/voicemail-stage/vmmenu-m1 "13456789" 3000 "#" "*" "0"')
    assert call.commands[play - 5:play] == [
        'STREAM FILE vm-first "0123456789*#"', 'STREAM FILE vm-message "0123456789*#"',
        """SAY DATETIME 1796324700 "0123456789*#" "'vm-received' q 'digits/at' IMp" America/New_York""",
        'STREAM FILE vm-from "0123456789*#"', 'SAY DIGITS 1002 "0123456789*#"']
    stage, unstage = mb.requests.index(fx.Stage("m1")), mb.requests.index(fx.Unstage("m1"))
    assert stage < unstage and not mb.staged  # the staging file went as soon as the message had played
    assert requests(mb, fx.Save) == [fx.Save("m1")]
    assert 'STREAM FILE vm-msgsaved "0123456789*#"' in call.commands


def test_nothing_is_said_about_an_outside_caller() -> None:
    mb = box(FROM_OUTSIDE)
    call = run(menu(CallStart("1001"), SETTINGS), [("vm-password", digits("4242")), ("vm-onefor", key("1")),
                                                   ("WAIT FOR DIGIT", key("#"))], mb)
    assert not [c for c in call.commands if c.startswith("SAY DIGITS") or "vm-from" in c]
    assert 'STREAM FILE vm-Urgent "0123456789*#"' in call.commands


def test_keys_while_a_message_plays_delete_and_move_on() -> None:
    mb = box(FROM_COLLEAGUE, FROM_OUTSIDE, OLD)
    script = [("vm-password", digits("4242")), ("vm-onefor", key("1")),
              ("CONTROL STREAM FILE", key("7")),  # delete the first while it plays
              ("CONTROL STREAM FILE", key("4")),  # previous: the first is gone, nothing before
              ("vm-nomore", key("6")),  # next
              ("CONTROL STREAM FILE", key("6")),  # next again: the last (old) one
              ("WAIT FOR DIGIT", key("6")), ("vm-nomore", key("#"))]
    call = run(menu(CallStart("1001"), SETTINGS), script, mb)
    assert requests(mb, fx.Delete) == [fx.Delete("m1")]
    assert [r.message_id for r in requests(mb, fx.Stage)] == ["m1", "m2", "m3"]  # type: ignore[attr-defined]
    assert 'STREAM FILE vm-deleted "0123456789*#"' in call.commands
    assert not mb.staged and call.commands[-2:] == GOODBYE


def test_change_folder_to_old() -> None:
    mb = box(FROM_COLLEAGUE, OLD)
    script = [("vm-password", digits("4242")), ("vm-onefor", key("2")), ("vm-changeto", key("1")),
              ("vm-onefor", key("1")), ("WAIT FOR DIGIT", key("#"))]
    run(menu(CallStart("1001"), SETTINGS), script, mb)
    assert requests(mb, fx.ListMessages)[-1] == fx.ListMessages("Old")
    assert [r.message_id for r in requests(mb, fx.Stage)] == ["m3"]  # type: ignore[attr-defined]


def test_a_key_outside_the_menu_is_refused_and_the_menu_comes_again() -> None:
    mb = box()
    call = run(menu(CallStart("1001"), SETTINGS), [("vm-password", digits("4242")), ("vm-opts", key("8")),
                                                   ("vm-opts", key("#"))], mb)
    sorry = call.commands.index('STREAM FILE vm-sorry "0123456789*#"')
    assert 'STREAM FILE vm-opts "0123456789*#"' in call.commands[sorry:]


def full_session() -> list[tuple[str, str]]:
    return [("vm-password", digits("4242")), ("vm-onefor", key("1")), ("WAIT FOR DIGIT", key("9")),
            ("CONTROL STREAM FILE", key("7")), ("vm-nomore", key("0")), ("vm-options", key("5")),
            ("vm-newpassword", digits("583920")), ("vm-reenterpassword", digits("583920")),
            ("vm-options", key("1")), ("vm-review", key("1")), ("vm-options", key("*")), ("vm-helpexit", key("#"))]


def test_hangup_during_any_command_ends_the_menu_at_once() -> None:
    whole = run(menu(CallStart("1001"), SETTINGS), full_session(), box(FROM_COLLEAGUE, FROM_OUTSIDE))
    assert len(whole.commands) > 40
    for at in range(len(whole.commands)):
        for reply in (HANGUP, DEAD, "garbage"):
            mb = box(FROM_COLLEAGUE, FROM_OUTSIDE)
            call = run(menu(CallStart("1001"), SETTINGS), full_session(), mb, hangup_at=at, hangup_reply=reply)
            assert call.finished and len(call.commands) == at + 1, (at, reply)
            assert call.commands[-1] == whole.commands[at]


def test_change_pin_refuses_trivial_and_mismatched_then_stores() -> None:
    mb = box()
    script = [("vm-password", digits("4242")), ("vm-opts", key("0")),
              ("vm-options", key("5")), ("vm-newpassword", digits("1111")),
              ("vm-options", key("5")), ("vm-newpassword", digits("583920")), ("vm-reenterpassword", digits("583921")),
              ("vm-options", key("5")), ("vm-newpassword", digits("583920")), ("vm-reenterpassword", digits("583920")),
              ("vm-options", key("*")), ("vm-opts", key("#"))]
    call = run(menu(CallStart("1001"), SETTINGS), script, mb)
    assert 'STREAM FILE vm-invalid-password "0123456789*#"' in call.commands
    assert 'STREAM FILE vm-mismatch "0123456789*#"' in call.commands
    assert requests(mb, fx.ChangePin) == [fx.ChangePin("583920")] and mb.pin == "583920"
    assert 'STREAM FILE vm-passchanged "0123456789*#"' in call.commands


def test_record_a_greeting_review_and_keep_it() -> None:
    mb = box()
    script = [("vm-password", digits("4242")), ("vm-opts", key("0")), ("vm-options", key("1")),
              ("vm-review", key("2")), ("vm-review", key("1")), ("vm-options", key("4")),
              ("vm-tempgreeting2", key("2")), ("vm-options", key("*")), ("vm-opts", key("#"))]
    mb.greetings.add("temp")
    call = run(menu(CallStart("1001"), SETTINGS), script, mb)
    target = "/var/spool/asterisk/voicemail/default/1001/vmmenu-unavail-x"
    record = f'RECORD FILE {target} wav "#*0123456789" 60000 0 BEEP s=5'
    assert call.commands[call.commands.index(record) - 1] == 'STREAM FILE vm-rec-unv "0123456789*#"'
    assert f'STREAM FILE {target} "0123456789*#"' in call.commands
    assert requests(mb, fx.KeepGreeting) == [fx.KeepGreeting("unavail")] and mb.greetings == {"unavail"}
    assert 'STREAM FILE vm-tmpexists "0123456789*#"' in call.commands
    assert requests(mb, fx.RemoveGreeting) == [fx.RemoveGreeting("temp")]


def test_a_new_message_played_is_reported_heard_but_not_one_the_caller_hung_up_on() -> None:
    mb = box(FROM_COLLEAGUE, OLD)
    run(menu(CallStart("1001"), SETTINGS), [("vm-password", digits("4242")), ("vm-onefor", key("1")),
                                            ("WAIT FOR DIGIT", key("6")), ("WAIT FOR DIGIT", key("#"))], mb)
    assert requests(mb, fx.Heard) == [fx.Heard("m1")]  # the old one needs no move
    mb = box(FROM_COLLEAGUE)
    run(menu(CallStart("1001"), SETTINGS), [("vm-password", digits("4242")), ("vm-onefor", key("1")),
                                            ("CONTROL STREAM FILE", HANGUP)], mb)
    assert requests(mb, fx.Heard) == []
