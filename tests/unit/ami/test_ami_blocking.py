"""BlockingAmi: the client on its own loop thread, called from plain synchronous code."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from ami_fakes import FakeAsterisk, Session, reply_bytes

from voicemail.ami.actions import voicemail_users_list
from voicemail.ami.blocking import BlockingAmi
from voicemail.ami.client import AmiAuthError, AmiConnectionLost, AmiTimeout
from voicemail.ami.parser import AmiMessage


@contextmanager
def server_thread(server: FakeAsterisk) -> Iterator[FakeAsterisk]:
    """Run ``server`` on an event loop of its own, in another thread (as a real Asterisk would be)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def wait_until(condition: Callable[[], bool], limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit  # only turns a hang into a failure
    while not condition():
        assert time.monotonic() < deadline, "condition never came true"
        time.sleep(0.005)


def test_call_and_run_from_synchronous_code(captures: Path) -> None:
    async def on_action(session: Session, msg: AmiMessage) -> None:
        if msg.action == "VoicemailUsersList":
            await session.send(reply_bytes(captures, "q1-voicemail-session", "lab-002", msg.action_id or ""))
        elif msg.action == "VoicemailRefresh":
            await session.send(reply_bytes(captures, "q1-voicemail-session", "lab-005", msg.action_id or ""))

    with server_thread(FakeAsterisk(on_action)) as server:
        ami = BlockingAmi("127.0.0.1", server.port, "lab", "labsecret", ping_interval=0)
        try:
            reply = ami.call("VoicemailRefresh", {"Context": "default", "Mailbox": "1001"}, timeout=10.0)
            assert reply.message == "Refresh sent"
            users = ami.run(voicemail_users_list, timeout=10.0)
            assert [u.mailbox for u in users] == ["1001", "1002", "2001"]
            assert ami.connected
        finally:
            ami.close()
        assert not ami.connected
        with pytest.raises(AmiConnectionLost):
            ami.call("Ping", timeout=1.0)
        wait_until(server.sessions[0].closed.is_set)  # the server has read all the client sent
        assert [m.action for m in server.sessions[0].actions] == [
            "Login", "VoicemailRefresh", "VoicemailUsersList", "Logoff"]


def test_refused_login_surfaces_as_auth_error() -> None:
    with server_thread(FakeAsterisk(login_ok=False)) as server:
        with BlockingAmi("127.0.0.1", server.port, "lab", "wrong", ping_interval=0) as ami:
            with pytest.raises(AmiAuthError):
                ami.call("Ping", timeout=10.0)
            with pytest.raises(AmiAuthError):
                ami.call("Ping", timeout=10.0)
        assert server.logins == 1


def test_no_server_times_out_as_transient() -> None:
    with server_thread(FakeAsterisk()) as server:
        port = server.port
    # the port is closed now: every connect is refused, the call gives up after its timeout
    with BlockingAmi("127.0.0.1", port, "lab", "labsecret", ping_interval=0, reconnect_min=0.01,
                     reconnect_max=0.02) as ami, pytest.raises(AmiTimeout):
        ami.call("Ping", timeout=0.2)
