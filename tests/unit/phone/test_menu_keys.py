"""Telephone menu keys as a pure state machine: advanced options (3) and help (*) in the main menu, repeat (5)
and pause (0) while a message plays. AGI replies in (as in captures q9/q9b/q9c), commands and requests out."""

from __future__ import annotations

import shlex

import pytest

from tests.unit.phone.sim import Mailbox, digits, key, run
from voicemail.phone import effects as fx
from voicemail.phone.dialog import MenuSettings
from voicemail.phone.menu import CallStart, menu

SETTINGS = MenuSettings()
FIRST = fx.MessageInfo("m1", "INBOX", 1796324700, False, "1002")
SECOND = fx.MessageInfo("m2", "INBOX", 1796328300, False, "1003")
ANY = '"0123456789*#"'
SORRY = f"STREAM FILE vm-sorry {ANY}"
GOODBYE = ['STREAM FILE vm-goodbye ""', "HANGUP"]
SIGN_IN = ("vm-password", digits("4242"))


def box(*messages: fx.MessageInfo) -> Mailbox:
    return Mailbox(new=list(messages))


def staged(mb: Mailbox) -> list[str]:
    return [r.message_id for r in mb.requests if isinstance(r, fx.Stage)]


def after(commands: list[str], text: str) -> list[str]:
    """The commands after the last one containing ``text``."""
    at = max(n for n, c in enumerate(commands) if text in c)
    return commands[at + 1:]


def test_advanced_3_says_the_envelope_again_without_playing_the_message_again() -> None:
    mb = box(FIRST)
    script = [SIGN_IN, ("vm-onefor", key("1")),  # the message plays to its end, then the menu after it
              ("WAIT FOR DIGIT", key("3")), ("vm-tohearenv", key("3")), ("WAIT FOR DIGIT", key("#"))]
    call = run(menu(CallStart("1001"), SETTINGS), script, mb)
    envelope = [f"STREAM FILE vm-first {ANY}", f"STREAM FILE vm-message {ANY}",
                next(c for c in call.commands if c.startswith("SAY DATETIME 1796324700 ")),
                f"STREAM FILE vm-from {ANY}", f"SAY DIGITS 1002 {ANY}"]
    again = after(call.commands, "vm-tohearenv")
    assert again[:len(envelope)] == envelope  # the envelope once more ...
    assert not any(c.startswith("CONTROL STREAM FILE") for c in again)  # ... and not the audio
    assert staged(mb) == ["m1"] and not mb.staged
    assert f"STREAM FILE vm-advopts {ANY}" in again[len(envelope):]  # then the menu after a message
    assert SORRY not in call.commands and call.commands[-2:] == GOODBYE


@pytest.mark.parametrize("option", ["1", "2", "4", "5"])
def test_advanced_reply_callback_and_dial_out_say_sorry_then_the_menu_comes_again(option: str) -> None:
    mb = box(FIRST)
    script = [SIGN_IN, ("vm-onefor", key("1")), ("WAIT FOR DIGIT", key("3")), ("vm-tohearenv", key(option)),
              ("WAIT FOR DIGIT", key("#"))]
    call = run(menu(CallStart("1001"), SETTINGS), script, mb)
    rest = after(call.commands, "vm-tohearenv")  # the option pressed during the advanced prompt
    assert rest[0] == SORRY
    assert f"STREAM FILE vm-advopts {ANY}" in rest and rest[-2:] == GOODBYE
    assert staged(mb) == ["m1"]  # nothing was played or done to the message
    assert not [r for r in mb.requests if isinstance(r, fx.Save | fx.Delete)]


def test_star_in_advanced_options_goes_back_to_the_menu_without_a_sorry() -> None:
    mb = box(FIRST)
    script = [SIGN_IN, ("vm-onefor", key("1")), ("WAIT FOR DIGIT", key("3")), ("vm-starmain", key("*")),
              ("WAIT FOR DIGIT", key("#"))]
    call = run(menu(CallStart("1001"), SETTINGS), script, mb)
    assert SORRY not in call.commands
    assert after(call.commands, "vm-starmain")[0] == f"STREAM FILE vm-advopts {ANY}"


def test_advanced_before_any_message_was_chosen_has_nothing_to_act_on_and_says_sorry() -> None:
    mb = box(FIRST)
    call = run(menu(CallStart("1001"), SETTINGS), [SIGN_IN, ("vm-opts", key("3")), ("vm-opts", key("#"))], mb)
    rest = after(call.commands[:-3], "vm-opts")  # after the first menu
    assert rest[0] == SORRY and "vm-tohearenv" not in " ".join(call.commands)
    assert staged(mb) == []


def test_star_in_the_main_menu_says_the_instructions_again() -> None:
    mb = box(FIRST)
    call = run(menu(CallStart("1001"), SETTINGS), [SIGN_IN, ("vm-opts", key("*")), ("vm-opts", key("#"))], mb)
    instructions = [f"STREAM FILE vm-onefor {ANY}", f"STREAM FILE vm-INBOX {ANY}", f"STREAM FILE vm-messages {ANY}",
                    f"STREAM FILE vm-opts {ANY}"]
    first = call.commands.index(instructions[0])
    assert call.commands[first:first + 4] == instructions  # interrupted by * at vm-opts ...
    assert call.commands[first + 4:first + 8] == instructions  # ... and said again from the start
    assert SORRY not in call.commands and call.commands[-2:] == GOODBYE
    assert staged(mb) == []


def test_5_while_a_message_plays_repeats_that_message_from_its_envelope() -> None:
    mb = box(FIRST, SECOND)
    script = [SIGN_IN, ("vm-onefor", key("1")),
              ("CONTROL STREAM FILE", key("6")),  # next: the second message
              ("CONTROL STREAM FILE", key("5")),  # repeat the second one while it plays
              ("WAIT FOR DIGIT", key("#"))]
    call = run(menu(CallStart("1001"), SETTINGS), script, mb)
    assert staged(mb) == ["m1", "m2", "m2"] and not mb.staged  # each play had its own, removed, staging file
    plays = [n for n, c in enumerate(call.commands) if c.startswith("CONTROL STREAM FILE")]
    assert len(plays) == 3
    repeat = call.commands[plays[1] + 1:plays[2]]
    assert repeat[0] == f"STREAM FILE vm-last {ANY}" and f"SAY DIGITS 1003 {ANY}" in repeat  # the envelope again
    assert call.commands[-2:] == GOODBYE


def test_5_after_a_message_repeats_it() -> None:
    mb = box(FIRST, SECOND)
    script = [SIGN_IN, ("vm-onefor", key("1")), ("WAIT FOR DIGIT", key("5")), ("WAIT FOR DIGIT", key("#"))]
    run(menu(CallStart("1001"), SETTINGS), script, mb)
    assert staged(mb) == ["m1", "m1"]


def test_0_while_a_message_plays_is_asterisk_s_pause_key_and_does_not_stop_the_message() -> None:
    mb = box(FIRST)
    call = run(menu(CallStart("1001"), SETTINGS), [SIGN_IN, ("vm-onefor", key("1")), ("WAIT FOR DIGIT", key("#"))],
               mb)
    [play] = [c for c in call.commands if c.startswith("CONTROL STREAM FILE")]
    # CONTROL STREAM FILE <file> <escape digits> <skipms> <ffchar> <rewchr> <pausechr>
    _c, _s, _f, _name, stop, skip_ms, forward, rewind, pause = shlex.split(play)
    assert pause == "0" and "0" not in stop
    assert (forward, rewind, skip_ms) == ("#", "*", "3000")
    assert {"4", "5", "6", "7", "9"} <= set(stop)  # previous, repeat, next, delete, save stop it and act
