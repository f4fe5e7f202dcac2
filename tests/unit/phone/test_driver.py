"""The Async AGI driver's bookkeeping, against an in-process AMI peer that answers like Asterisk does in
captures q9/q9b/q9c (replies, AsyncAGIExec with the client's CommandId, AsyncAGIEnd). The whole menu
against the stand-in is in tests/integration/phone/."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from voicemail.ami.client import AmiActionError
from voicemail.ami.parser import AmiMessage
from voicemail.phone import effects as fx
from voicemail.phone.dialog import MenuSettings
from voicemail.phone.driver import MenuDriver


def env(channel: str, *args: str, context: str = "vm-internal") -> str:
    lines = [("agi_request", "async"), ("agi_channel", channel), ("agi_context", context),
             ("agi_threadid", "140640105711296")]
    lines += [(f"agi_arg_{n}", a) for n, a in enumerate(args, start=1)]
    return quote("".join(f"{k}: {v}\n" for k, v in lines) + "\n", safe="-_.!~*'()")


class Peer:
    """Answers ``Action: AGI`` with Success and then, per channel, the scripted AGI reply lines."""

    def __init__(self, replies: dict[str, list[str]]) -> None:
        self.replies = replies
        self.sent: list[tuple[str, str]] = []
        self.gone: set[str] = set()
        self.callback: Callable[[AmiMessage], object] | None = None
        self.connected = True

    def subscribe(self, callback: Callable[[AmiMessage], object]) -> Callable[[], None]:
        self.callback = callback
        return lambda: None

    def emit(self, **headers: str) -> None:
        assert self.callback is not None
        self.callback(AmiMessage(list(headers.items())))

    async def action(self, name: str, headers: Any = (), *, timeout: float | None = None) -> Any:
        h = dict(headers)
        channel = h["Channel"]
        if channel in self.gone:
            raise AmiActionError(f"AGI failed: Channel {channel} does not exist.")
        self.sent.append((channel, h["Command"]))
        line = self.replies[channel].pop(0) if self.replies[channel] else "200 result=-1"
        asyncio.get_running_loop().call_soon(self._answer, channel, h["CommandID"], line)
        return None

    def _answer(self, channel: str, command_id: str, line: str) -> None:
        self.emit(Event="AsyncAGIExec", Channel=channel, Result=quote(line + "\n", safe="-_.!~*'()"),
                  CommandId=command_id)
        if line.startswith("200 result=-1") or line == "200 result=1":
            self.gone.add(channel)
            self.emit(Event="AsyncAGIEnd", Channel=channel)


class Port:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.closed = 0
        self.requests: list[object] = []

    def answer(self, request: object) -> object:
        self.requests.append(request)
        if self.fail:
            raise RuntimeError("database down")
        if isinstance(request, fx.Login):
            return fx.LoginOutcome(True, "UTC")
        if isinstance(request, fx.ListMessages):
            return ()
        return None

    def close(self) -> None:
        self.closed += 1


async def run(peer: Peer, starts: list[tuple[str, str]], port_factory: Callable[[], Port]) -> tuple[
        MenuDriver, list[Port]]:
    ports: list[Port] = []

    def make_port(_source: str) -> Port:
        ports.append(port_factory())
        return ports[-1]

    driver = MenuDriver(peer, make_port, MenuSettings(), frozenset({"vm-internal"}))
    driver.start()
    for channel, encoded in starts:
        peer.emit(Event="AsyncAGIStart", Channel=channel, Uniqueid="astlab-1.0", Env=encoded)
    await driver.wait_idle(5)
    return driver, ports


def test_only_voicemail_menu_calls_are_taken_and_calls_are_kept_apart() -> None:
    a, b, other = "Local/pin@vmphone-00000002;1", "Local/silent@vmphone-00000003;1", "PJSIP/hotdesk-01;1"
    peer = Peer({a: ["200 result=4242", "200 result=0 endpos=7253", "200 result=0 endpos=100",
                     "200 result=0 endpos=100", "200 result=35", "200 result=0 endpos=100", "200 result=1"],
                 b: ["200 result=-1"], other: []})
    driver, ports = asyncio.run(run(peer, [(a, env(a, "voicemail-menu", "1001@default")),
                                           (other, env(other, "extension-mobility", "SEP0011")),
                                           (b, env(b, "voicemail-menu"))], Port))
    assert driver.sessions == 0 and len(ports) == 2 and all(p.closed == 1 for p in ports)
    assert [c for ch, c in peer.sent if ch == a][:2] == ["GET DATA vm-password 5000 20",
                                                         'STREAM FILE vm-youhave "0123456789*#"']
    assert [c for ch, c in peer.sent if ch == a][-2:] == ['STREAM FILE vm-goodbye ""', "HANGUP"]
    assert [c for ch, c in peer.sent if ch == b] == ["GET DATA vm-login 5000 20"]  # b hung up at once
    assert not [c for ch, c in peer.sent if ch == other]


def test_a_refused_agi_action_ends_the_session_and_closes_its_port() -> None:
    a = "Local/gone@vmphone-00000004;1"
    peer = Peer({a: []})
    peer.gone.add(a)  # "Channel ... does not exist." (q9b)
    driver, ports = asyncio.run(run(peer, [(a, env(a, "voicemail-menu"))], Port))
    assert driver.sessions == 0 and ports[0].closed == 1 and peer.sent == []


@pytest.mark.parametrize("line", ["511 Command Not Permitted on a dead channel or intercept routine",
                                  "510 Invalid or unknown command", "garbage"])
def test_odd_replies_end_the_call_without_raising(line: str) -> None:
    a = "Local/odd@vmphone-00000005;1"
    peer = Peer({a: [line]})
    driver, ports = asyncio.run(run(peer, [(a, env(a, "voicemail-menu"))], Port))
    assert driver.sessions == 0 and ports[0].closed == 1


def test_a_failing_service_gets_an_apology_and_a_goodbye_not_an_exception() -> None:
    a = "Local/x@vmphone-00000006;1"
    peer = Peer({a: ["200 result=4242", "200 result=0 endpos=100", "200 result=0 endpos=100", "200 result=1"]})
    driver, ports = asyncio.run(run(peer, [(a, env(a, "voicemail-menu", "1001"))], lambda: Port(fail=True)))
    assert [c for _ch, c in peer.sent] == ["GET DATA vm-password 5000 20", 'STREAM FILE vm-sorry ""',
                                           'STREAM FILE vm-goodbye ""', "HANGUP"]
    assert driver.sessions == 0 and ports[0].closed == 1


def test_the_mailbox_argument_from_an_untrusted_context_is_ignored() -> None:
    a = "PJSIP/trunk-00000007"
    peer = Peer({a: ["200 result=-1"]})
    asyncio.run(run(peer, [(a, env(a, "voicemail-menu", "1001@default", context="from-trunk"))], Port))
    assert peer.sent == [(a, "GET DATA vm-login 5000 20")]


def test_calls_that_are_slow_to_end_do_not_hold_up_the_keys_of_calls_in_progress() -> None:
    """Ending a call moves its heard messages over AMI; while many calls are ending (their closing still
    waits on Asterisk), a call in progress is still signed in."""
    release = threading.Event()
    ending = [f"Local/end{n}@vmphone-0000001{n};1" for n in range(8)]
    a = "Local/pin@vmphone-00000020;1"
    peer = Peer({**{ch: ["200 result=-1"] for ch in ending},
                 a: ["200 result=4242", "200 result=0 endpos=100", "200 result=1"]})
    ports: dict[str, Port] = {}

    class SlowToEnd(Port):
        def close(self) -> None:
            release.wait(10)
            super().close()

    async def main() -> bool:
        def make_port(source: str) -> Port:
            ports[source] = SlowToEnd() if source != "phone a" else Port()
            return ports[source]

        driver = MenuDriver(peer, make_port, MenuSettings(), frozenset({"vm-internal"}))
        driver.start()
        for n, channel in enumerate(ending):
            peer.emit(Event="AsyncAGIStart", Channel=channel, Uniqueid=f"e{n}", Env=env(channel, "voicemail-menu"))
        while len(peer.sent) < len(ending):  # every ending call has hung up and is being closed
            await asyncio.sleep(0.01)
        peer.emit(Event="AsyncAGIStart", Channel=a, Uniqueid="a", Env=env(a, "voicemail-menu", "1001@default"))
        try:
            async with asyncio.timeout(5):
                while "phone a" not in ports or not any(isinstance(r, fx.Login) for r in ports["phone a"].requests):
                    await asyncio.sleep(0.01)
            signed_in = True
        except TimeoutError:
            signed_in = False
        release.set()
        await driver.wait_idle(10)
        await driver.close()
        return signed_in

    assert asyncio.run(main()), "the PIN was not checked while other calls were ending"
    assert all(p.closed == 1 for p in ports.values()) and len(ports) == len(ending) + 1
