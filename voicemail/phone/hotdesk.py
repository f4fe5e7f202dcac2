"""Extension mobility on the phone: ``AGI(agi:async,extension-mobility,DEVICE)`` as a pure generator.

``extension_mobility(device, settings)`` yields AGI ``Command`` values and the requests below, and is
sent their answers (``DeskStatus`` / ``DeskSignIn`` / ``DeskSignOut`` in ``effects``); the driver
(``voicemail.phone.driver``) runs it, ``hotdesk_port`` answers.

* Device not signed in: GET DATA vm-extension (the extension), GET DATA vm-password (the PIN); on
  success auth-thankyou + the extension's digits, then vm-goodbye. A wrong extension or PIN:
  vm-incorrect and again, ``max_logins`` times in all.
* Device signed in: vm-extension + its digits, vm-press 1 (sign out); 1 signs it out (auth-thankyou),
  anything else or silence leaves it as it is.
* No usable device name (``device`` None): vm-sorry, vm-goodbye; nothing is asked or written.

A hangup at any prompt ends the generator; sign-in is a single request made only after the PIN was
entered, so nothing is half done.
"""

from __future__ import annotations

from voicemail.phone import agi
from voicemail.phone.dialog import CallEnded, Flow, MenuSettings, choose, command, get_digits, goodbye, request
from voicemail.phone.effects import DeskSignIn, DeskSignOut, DeskState, DeskStatus

SIGN_OUT_KEY = "1"


def extension_mobility(device: str | None, settings: MenuSettings) -> Flow[None]:
    try:
        if device is None:
            yield from command(agi.stream_file("vm-sorry", ""))
            yield from goodbye()
            return
        state = yield from request(DeskStatus(), DeskState)
        if state.extension is not None:
            yield from _offer_sign_out(state.extension, settings)
        else:
            yield from _sign_in(settings)
        yield from goodbye()
    except CallEnded:
        return


def _offer_sign_out(extension: str, settings: MenuSettings) -> Flow[None]:
    prompt = [agi.stream_file("vm-extension"), agi.say_digits(extension), agi.stream_file("vm-press"),
              agi.say_digits(SIGN_OUT_KEY)]
    key = yield from choose(prompt, settings)
    if key != SIGN_OUT_KEY:
        return
    done = yield from request(DeskSignOut(), bool)
    yield from command(agi.stream_file("auth-thankyou" if done else "vm-sorry", ""))


def _sign_in(settings: MenuSettings) -> Flow[None]:
    for _ in range(settings.max_logins):
        extension = yield from get_digits("vm-extension", settings)
        if not extension:
            yield from command(agi.stream_file("vm-incorrect", ""))
            continue
        pin = yield from get_digits("vm-password", settings)
        if pin:
            verdict = yield from request(DeskSignIn(extension, pin), str)
            if verdict == "ok":
                yield from command(agi.stream_file("auth-thankyou", ""))
                yield from command(agi.say_digits(extension, ""))
                return
            if verdict == "error":
                yield from command(agi.stream_file("vm-sorry", ""))
                return
        yield from command(agi.stream_file("vm-incorrect", ""))
