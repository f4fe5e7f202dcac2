"""The telephone menu: app_voicemail's VoiceMailMain keys and stock prompts, as a pure generator.

``menu(start, settings)`` yields AGI ``Command`` values and mailbox requests (``effects.py``) and is
sent their answers; it never touches a socket, a file or the database. The driver
(``voicemail.phone.driver``) runs it for one channel.

Keys (as in VoiceMailMain, English prompts):

* main menu: 1 listen (new messages, then old ones), 2 change folder (0 new, 1 old, # cancel),
  3 advanced (3 = hear the envelope again), 0 mailbox options, * help, # goodbye;
* while a message plays (CONTROL STREAM FILE): # fast-forward and * rewind by ``skip_ms``, 0 pause, and
  1 3 4 5 6 7 8 9 stop it and act at once; after (or during) a message: 4 previous, 5 repeat, 6 next,
  7 delete, 9 save (to Old); # during the envelope skips it to the audio; a new message that was played
  moves to Old when the call ends (as in VoiceMailMain);
* a silent caller hears the prompt ``menu_repeats`` times, then vm-goodbye.

Each message: envelope first (vm-first / vm-last / vm-message N, vm-Urgent, SAY DATETIME in the owner's
time zone, vm-from + the digits only for an internal caller), then the audio from a staging file that
exists only while it plays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from voicemail.phone import agi
from voicemail.phone.dialog import (
    CallEnded,
    Flow,
    MenuSettings,
    choose,
    command,
    get_digits,
    goodbye,
    play,
    request,
    sounds,
)
from voicemail.phone.effects import (
    Delete,
    Heard,
    ListMessages,
    Login,
    LoginOutcome,
    MessageInfo,
    Save,
    Stage,
    Unstage,
)
from voicemail.phone.options import options

PLAY_STOP_KEYS = "13456789"  # app_voicemail's listen_control_stop_key
FORWARD, REWIND, PAUSE = "#", "*", "0"


@dataclass(frozen=True)
class CallStart:
    """``mailbox``: the mailbox named by a trusted dialplan (own-extension shortcut), else None."""

    mailbox: str | None = None


def identify(argument: str | None, agi_context: str, trusted_contexts: frozenset[str]) -> CallStart:
    """The AGI argument ``MAILBOX[@CONTEXT]`` is believed only when the channel runs the AGI in a
    trusted internal context; anything else (or a malformed argument) means: ask for the mailbox."""
    if not argument or agi_context not in trusted_contexts:
        return CallStart()
    box, _, ctx = argument.partition("@")
    if not box.isdigit() or len(box) > 20 or (ctx and not ctx.replace("-", "").replace("_", "").isalnum()):
        return CallStart()
    return CallStart(argument)


@dataclass
class Box:
    """The signed-in mailbox while the call lasts: the listening queue and where we are in it."""

    timezone: str
    messages: list[MessageInfo] = field(default_factory=list)
    folder: str = "INBOX"
    cur: int | None = None  # index into messages; None before the first one is chosen
    gone: set[str] = field(default_factory=set)  # deleted during this call

    def live(self) -> list[int]:
        return [i for i, m in enumerate(self.messages) if m.id not in self.gone]


def menu(start: CallStart, settings: MenuSettings) -> Flow[None]:
    """The whole call. Ends with vm-goodbye + HANGUP, or silently when the caller hung up."""
    try:
        outcome = yield from _login(start, settings)
        if outcome is None:
            yield from goodbye()
            return
        box = Box(outcome.timezone)
        new, old = outcome.new, outcome.old  # listed with the sign-in
        key = yield from play(_intro(len(new), len(old)))
        box.folder = "INBOX" if new or not old else "Old"
        box.messages = list(new) + list(old) if box.folder == "INBOX" else list(old)
        yield from _main(box, settings, key)
        yield from goodbye()
    except CallEnded:
        return


def _login(start: CallStart, settings: MenuSettings) -> Flow[LoginOutcome | None]:
    for _ in range(settings.max_logins):
        mailbox = start.mailbox
        if mailbox is None:
            mailbox = yield from get_digits("vm-login", settings)
        pin = yield from get_digits("vm-password", settings)
        if mailbox and pin:
            outcome = yield from request(Login(mailbox, pin), LoginOutcome)
            if outcome.ok:
                return outcome
        yield from command(agi.stream_file("vm-incorrect", ""))
    return None


def _intro(new: int, old: int) -> list[str]:
    """vm_intro_en: "You have N new and M old messages" / "You have no messages"."""
    out = sounds("vm-youhave")
    if new:
        out += [agi.say_number(new), agi.stream_file("vm-INBOX")]
        out += sounds("vm-and") if old else sounds("vm-message" if new == 1 else "vm-messages")
    if old:
        out += [agi.say_number(old), agi.stream_file("vm-Old")]
        out += sounds("vm-message" if old == 1 else "vm-messages")
    if not new and not old:
        out += sounds("vm-no", "vm-messages")
    return out


def _instructions(box: Box) -> list[str]:
    """vm_instructions_en, for the main menu (no message chosen yet) or after a message."""
    if box.cur is None:
        out = sounds("vm-onefor", f"vm-{box.folder}", "vm-messages") if box.live() else []
        return out + sounds("vm-opts", "vm-helpexit")
    live = box.live()
    out = sounds("vm-prev") if live and box.cur > live[0] else []
    out += sounds("vm-advopts", "vm-repeat")
    if live and box.cur < live[-1]:
        out += sounds("vm-next")
    out += sounds("vm-delete") if box.messages[box.cur].id not in box.gone else []
    return out + sounds("vm-savemessage", "vm-helpexit")


def _main(box: Box, settings: MenuSettings, key: str | None) -> Flow[None]:
    while True:
        if key is None:
            key = yield from choose(_instructions(box), settings)
        if key is None or key == "#":
            return
        key = yield from _on_key(box, key, settings)


def _on_key(box: Box, key: str, settings: MenuSettings) -> Flow[str | None]:
    """Act on one key; return the next key when one was pressed meanwhile (or None: show the menu)."""
    live = box.live()
    if key in "15" and live:
        if key == "1" or box.cur is None or box.cur not in live:
            box.cur = live[0]
        return (yield from _play_message(box, settings))
    if key in "46" and live and box.cur is not None:
        after = [i for i in live if (i < box.cur if key == "4" else i > box.cur)]
        if not after:
            return (yield from play(sounds("vm-nomore")))
        box.cur = after[-1] if key == "4" else after[0]
        return (yield from _play_message(box, settings))
    if key in "79" and box.cur is not None and box.cur in live:
        return (yield from _save_or_delete(box, key, settings))
    if key == "2":
        return (yield from _change_folder(box, settings))
    if key == "3" and box.cur is not None and box.cur in live:
        sub = yield from choose(sounds("vm-tohearenv", "vm-starmain"), settings)
        if sub == "3":
            found = yield from play(_envelope(box, settings))
            return None if found == "#" else found
        if sub in ("1", "2", "4", "5"):  # reply, call back, dial out: not offered
            return (yield from play(sounds("vm-sorry")))
        return None
    if key == "0":
        yield from options(settings)
        return None
    if key == "*":  # help: the instructions again
        return None
    return (yield from play(sounds("vm-sorry")))


def _save_or_delete(box: Box, key: str, settings: MenuSettings) -> Flow[str | None]:
    assert box.cur is not None
    msg = box.messages[box.cur]
    if key == "7":
        done = yield from request(Delete(msg.id), bool)
        if done:
            box.gone.add(msg.id)
        said = yield from play(sounds("vm-message", "vm-deleted") if done else sounds("vm-sorry"))
    else:
        done = yield from request(Save(msg.id), bool)
        if done:
            box.messages[box.cur] = MessageInfo(msg.id, "Old", msg.received_at, msg.urgent, msg.caller_digits)
        said = yield from play(sounds("vm-msgsaved") if done else sounds("vm-sorry"))
    if said is not None:
        return said
    following = [i for i in box.live() if i > box.cur]
    if not following:
        return (yield from play(sounds("vm-nomore")))
    box.cur = following[0]
    return (yield from _play_message(box, settings))


def _change_folder(box: Box, settings: MenuSettings) -> Flow[str | None]:
    """get_folder: "Press 0 for new messages, 1 for old messages, # to cancel"."""
    prompt = sounds("vm-changeto")
    for digit, name in (("0", "vm-INBOX"), ("1", "vm-Old")):
        prompt += [agi.say_digits(digit), *sounds("vm-for", name, "vm-messages")]
    key = yield from choose(prompt + sounds("vm-tocancel"), settings)
    if key not in ("0", "1"):
        return None
    folder: Literal["INBOX", "Old"] = "INBOX" if key == "0" else "Old"
    found = yield from request(ListMessages(folder), tuple)
    box.folder, box.messages, box.cur, box.gone = folder, list(found), None, set()
    noun = "vm-message" if len(found) == 1 else "vm-messages"
    return (yield from play([*sounds("vm-youhave"), agi.say_number(len(found)), *sounds(f"vm-{folder}", noun)]))


def _envelope(box: Box, settings: MenuSettings) -> list[str]:
    assert box.cur is not None
    live = box.live()
    msg = box.messages[box.cur]
    if box.cur == live[0]:
        out = sounds("vm-first", "vm-message")
    elif box.cur == live[-1]:
        out = sounds("vm-last", "vm-message")
    else:
        out = [*sounds("vm-message"), agi.say_number(live.index(box.cur) + 1)]
    if msg.urgent:
        out += sounds("vm-Urgent")
    try:
        out.append(agi.say_datetime(msg.received_at, settings.datetime_format, box.timezone))
    except ValueError:  # not a time zone name Asterisk could take: say it in UTC rather than fail
        out.append(agi.say_datetime(msg.received_at, settings.datetime_format, "UTC"))
    if msg.caller_digits and msg.caller_digits.isdigit():
        out += [*sounds("vm-from"), agi.say_digits(msg.caller_digits)]
    return out


def _play_message(box: Box, settings: MenuSettings) -> Flow[str | None]:
    """Envelope, then the audio from a staging file removed as soon as it has played."""
    assert box.cur is not None
    msg = box.messages[box.cur]
    key = yield from play(_envelope(box, settings))
    if key is not None and key != "#":
        return key
    sound = yield Stage(msg.id)
    if not isinstance(sound, str):
        return (yield from play(sounds("vm-sorry")))
    reply = yield from command(agi.control_stream_file(sound, PLAY_STOP_KEYS, settings.skip_ms, FORWARD,
                                                       REWIND, PAUSE))
    yield Unstage(msg.id)  # a hangup skips this: the driver removes the call's files when it ends
    if msg.folder == "INBOX":
        yield Heard(msg.id)
    return reply.key
