"""Mailbox options (key 0 of the main menu), as app_voicemail's vm_options (pure generator).

1 record the unavailable greeting, 2 the busy greeting, 3 your name, 4 the temporary greeting (1 record,
2 remove), 5 change the PIN, * back to the main menu. A recording is reviewed like play_record_review:
1 accept, 2 listen, 3 record again; silence after the review keeps it (as Asterisk does), * or #
throws it away.
"""

from __future__ import annotations

from voicemail.phone import agi
from voicemail.phone.dialog import Flow, MenuSettings, ask, choose, command, get_digits, play, request, sounds
from voicemail.phone.effects import (
    ChangePin,
    CheckNewPin,
    Greeting,
    GreetingExists,
    KeepGreeting,
    RecordTarget,
    RemoveGreeting,
)

RECORD_PROMPTS: dict[Greeting, str] = {"unavail": "vm-rec-unv", "busy": "vm-rec-busy", "greet": "vm-rec-name",
                                       "temp": "vm-rec-temp"}
RECORD_STOP = "#*0123456789"


def options(settings: MenuSettings) -> Flow[None]:
    silent = 0
    while silent <= settings.menu_repeats:
        temp = yield from request(GreetingExists("temp"), bool)
        key = yield from ask(sounds(*(["vm-tmpexists"] if temp else []), "vm-options"), settings)
        if key is None:
            silent += 1
            continue
        silent = 0
        if key == "*":
            return
        if key in "123":
            yield from record(("unavail", "busy", "greet")[int(key) - 1], settings)
        elif key == "4":
            yield from temporary(temp, settings)
        elif key == "5":
            yield from change_pin(settings)


def temporary(exists: bool, settings: MenuSettings) -> Flow[None]:
    if not exists:
        yield from record("temp", settings)
        return
    key = yield from choose(sounds("vm-tempgreeting2"), settings)
    if key == "1":
        yield from record("temp", settings)
    elif key == "2":
        removed = yield from request(RemoveGreeting("temp"), bool)
        yield from play(sounds("vm-tempremoved" if removed else "vm-sorry"))


def record(greeting: Greeting, settings: MenuSettings) -> Flow[None]:
    target = yield from request(RecordTarget(greeting), str)
    prompt: str | None = RECORD_PROMPTS[greeting]
    while True:
        if prompt is not None:
            yield from play(sounds(prompt))
        yield from command(agi.record_file(target, settings.record_format, RECORD_STOP, settings.record_max_ms,
                                           settings.record_silence_s))
        while True:
            key = yield from choose(sounds("vm-review"), settings)
            if key == "2":
                yield from play([agi.stream_file(target)])
                continue
            break
        if key == "3":
            prompt = None  # straight back to the beep
            continue
        if key in ("1", None):
            kept = yield from request(KeepGreeting(greeting), bool)
            yield from play(sounds("vm-msgsaved" if kept else "vm-sorry"))
        return


def change_pin(settings: MenuSettings) -> Flow[None]:
    new = yield from get_digits("vm-newpassword", settings)
    if not new:
        return
    refused = yield CheckNewPin(new)
    if refused is not None:
        yield from play(sounds("vm-invalid-password", "vm-pls-try-again"))
        return
    again = yield from get_digits("vm-reenterpassword", settings)
    if again != new:
        yield from play(sounds("vm-mismatch", "vm-pls-try-again"))
        return
    stored = yield from request(ChangePin(new), bool)
    yield from play(sounds("vm-passchanged" if stored else "vm-sorry"))
