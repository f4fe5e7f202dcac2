"""Extension mobility as a pure flow, and the device name it is given: only a valid AstDB key from a
trusted dialplan context reaches AstDB; anything else is told sorry and nothing is asked or written."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from tests.unit.phone.sim import HANGUP, Mailbox, digits, run
from voicemail.ami.astdb import db_del, db_get, db_put
from voicemail.config import Settings
from voicemail.domain.errors import InvalidInput
from voicemail.phone import effects as fx
from voicemail.phone.dialog import MenuSettings
from voicemail.phone.hotdesk import extension_mobility
from voicemail.phone.hotdesk_port import AmiDeskDb
from voicemail.phone.wiring import hotdesk_app
from voicemail.services.hotdesk import check_device

GOODBYE = ['STREAM FILE vm-goodbye ""', "HANGUP"]


class Desk(Mailbox):
    """The flow's requests answered as a desk phone with ``extension`` signed in (or none)."""

    def __init__(self, extension: str | None = None) -> None:
        super().__init__()
        self.extension = extension

    def answer(self, req: object) -> object:
        self.requests.append(req)
        if isinstance(req, fx.DeskStatus):
            return fx.DeskState(self.extension)
        if isinstance(req, fx.DeskSignIn):
            return "ok" if (req.extension, req.pin) == ("1001", "4242") else "wrong"
        if isinstance(req, fx.DeskSignOut):
            return True
        raise AssertionError(req)


def test_a_wrong_pin_is_asked_again_and_never_signs_in() -> None:
    desk = Desk()
    script = [("vm-extension", digits("1001")), ("vm-password", digits("1111"))] * 3
    call = run(extension_mobility("SEP001122334455", MenuSettings()), script, desk)
    assert call.commands.count('STREAM FILE vm-incorrect ""') == 3 and call.commands[-2:] == GOODBYE
    assert [r for r in desk.requests if isinstance(r, fx.DeskSignIn)] == [fx.DeskSignIn("1001", "1111")] * 3


@pytest.mark.parametrize("at", [0, 1])
def test_a_hangup_before_the_pin_is_complete_asks_nothing(at: int) -> None:
    desk = Desk()
    run(extension_mobility("SEP001122334455", MenuSettings()),
        [("vm-extension", digits("1001")), ("vm-password", digits("4242"))], desk, hangup_at=at, hangup_reply=HANGUP)
    assert [r for r in desk.requests if not isinstance(r, fx.DeskStatus)] == []


def test_a_signed_in_desk_is_signed_out_with_1() -> None:
    desk = Desk("1002")
    call = run(extension_mobility("SEP001122334455", MenuSettings()), [("SAY DIGITS 1 ", "200 result=49")], desk)
    assert fx.DeskSignOut() in desk.requests and 'STREAM FILE auth-thankyou ""' in call.commands


BAD_DEVICES = ["", "SEP00/1122", "../etc", "SEP 0011", "SEP;1", "SEP\n1", "x" * 81, "SEP$1"]


@pytest.mark.parametrize("device", BAD_DEVICES)
def test_a_bad_device_name_is_refused_before_anything_is_asked(device: str) -> None:
    with pytest.raises(InvalidInput):
        check_device(device)
    settings = replace(Settings(), phone_trusted_contexts=("vm-internal",))
    env = {"agi_arg_1": "extension-mobility", "agi_arg_2": device, "agi_context": "vm-internal"}

    async def start() -> Any:
        return hotdesk_app(None, AmiDeskDb(None), settings)(env, "phone 1")  # type: ignore[arg-type]

    _, flow = asyncio.run(start())
    desk = Desk()
    call = run(flow, [], desk)
    assert call.commands == ['STREAM FILE vm-sorry ""', *GOODBYE] and desk.requests == []


def test_a_device_named_from_an_untrusted_context_is_refused() -> None:
    settings = replace(Settings(), phone_trusted_contexts=("vm-internal",))
    env = {"agi_arg_1": "extension-mobility", "agi_arg_2": "SEP001122334455", "agi_context": "from-trunk"}

    async def start() -> Any:
        return hotdesk_app(None, AmiDeskDb(None), settings)(env, "phone 1")  # type: ignore[arg-type]

    _, flow = asyncio.run(start())
    assert run(flow, [], Desk()).commands == ['STREAM FILE vm-sorry ""', *GOODBYE]


class Refuse:
    """An AMI peer that must not be asked anything."""

    async def action(self, name: str, headers: Any = (), *, timeout: float | None = None) -> Any:
        raise AssertionError(f"{name} sent")


@pytest.mark.parametrize("key", ["a/b", "", "x y", " lead"])
def test_astdb_actions_refuse_a_bad_key_before_sending(key: str) -> None:
    for action in (db_get, db_del):
        with pytest.raises(InvalidInput):
            asyncio.run(action(Refuse(), "voicemail-em", key))
    with pytest.raises(InvalidInput):
        asyncio.run(db_put(Refuse(), "voicemail-em", key, "1001"))
    with pytest.raises(InvalidInput):
        asyncio.run(db_put(Refuse(), "voicemail-em", "SEP1", " 1001"))  # AMI would strip the blank
