"""AmiClient over real TCP on loopback, against small servers that answer with captured bytes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from ami_fakes import FakeAsterisk, Session, reply_bytes, response

from voicemail.ami.client import (
    AmiActionError,
    AmiAuthError,
    AmiClient,
    AmiConnectionLost,
    AmiTimeout,
)
from voicemail.ami.parser import AmiMessage, UnsafeValue
from voicemail.domain.errors import PermanentError, TransientError

LIMIT = 20.0  # no scenario comes near this; it only turns a hang into a failure


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(LIMIT):
            await scenario()

    asyncio.run(bounded())


def client_for(server: FakeAsterisk, **options: Any) -> AmiClient:
    defaults: dict[str, Any] = {"connect_timeout": 5.0, "action_timeout": 5.0, "ping_interval": 0,
                                "reconnect_min": 0.01, "reconnect_max": 0.05}
    return AmiClient("127.0.0.1", server.port, "lab", "labsecret", **{**defaults, **options})


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


async def started(client: AmiClient, on_connect: Callable[[AmiClient], Awaitable[None]] | None = None
                  ) -> asyncio.Task[None]:
    task = asyncio.create_task(client.run_forever(on_connect))
    await client.wait_connected()
    return task


def test_login_sends_events_on_and_connects() -> None:
    async def scenario() -> None:
        server = await FakeAsterisk().start()
        client = client_for(server)
        await client.connect()
        assert client.connected and client.banner == "Asterisk Call Manager/11.0.0"
        login = server.received("Login")[0]
        assert (login.get("Username"), login.get("Secret"), login.get("Events")) == ("lab", "labsecret", "on")
        await client.close()
        assert not client.connected
        await server.stop()

    run(scenario)


def test_list_action_collects_users_list_from_capture(captures: Path) -> None:
    async def on_action(session: Session, msg: AmiMessage) -> None:
        # an unrelated event in the middle of the list must not become an item
        data = reply_bytes(captures, "q1-voicemail-session", "lab-002", msg.action_id or "")
        first_event = data.index(b"Event: VoicemailUserEntry")
        await session.send(data[:first_event] + b"Event: Newexten\r\nChannel: x\r\n\r\n" + data[first_event:])

    async def scenario() -> None:
        server = await FakeAsterisk(on_action).start()
        client = client_for(server)
        seen: list[str | None] = []
        client.subscribe(lambda ev: seen.append(ev.event))
        await client.connect()
        reply = await client.action("VoicemailUsersList")
        assert reply.status == "Success" and reply.message == "Voicemail user list will follow"
        assert [i.get("VoiceMailbox") for i in reply.items] == ["1001", "1002", "2001"]
        assert reply.complete is not None and reply.complete.get("ListItems") == "3"
        assert "Newexten" in seen and "VoicemailUserEntry" not in seen
        await client.close()
        await server.stop()

    run(scenario)


def test_error_response_raises_action_error_that_is_not_transient(captures: Path) -> None:
    async def on_action(session: Session, msg: AmiMessage) -> None:  # MWIGet is unknown on this lab (q1)
        await session.send(reply_bytes(captures, "q1-voicemail-session", "lab-004", msg.action_id or ""))

    async def scenario() -> None:
        server = await FakeAsterisk(on_action).start()
        client = client_for(server)
        await client.connect()
        with pytest.raises(AmiActionError, match="Invalid/unknown command: MWIGet") as caught:
            await client.action("MWIGet", {"Mailbox": "1001@default"})
        assert isinstance(caught.value, PermanentError) and not isinstance(caught.value, TransientError)
        assert (await client.action("Ping")).status == "Success"  # the connection is still good
        await client.close()
        await server.stop()

    run(scenario)


def test_concurrent_actions_never_interleave_bytes() -> None:
    async def on_action(session: Session, msg: AmiMessage) -> None:
        await session.send(response(msg.action_id or "", f"Echo: {len(msg.get('Data') or '')}"))

    async def scenario() -> None:
        server = await FakeAsterisk(on_action).start()
        client = client_for(server)
        await client.connect()
        sizes = [1 + (n * 7919) % 200_000 for n in range(60)]  # many frames span several TCP writes
        replies = await asyncio.gather(*(client.action("UserEvent", [("Data", f"{n % 10}" * size)])
                                         for n, size in enumerate(sizes)))
        assert [r.get("Echo") for r in replies] == [str(s) for s in sizes]
        events = server.received("UserEvent")
        assert len(events) == len(sizes) and server.malformed == []
        for msg in events:  # each frame arrived whole: one repeated digit, the length sent
            data = msg.get("Data") or ""
            assert len(set(data)) == 1 and len(data) in sizes
        assert len({m.action_id for m in events}) == len(sizes)
        await client.close()
        await server.stop()

    run(scenario)


@pytest.mark.parametrize("hostile", ["1001\r\nAction: Originate", "a\nb", "nul\x00"])
def test_cr_lf_nul_are_refused_before_anything_is_written(hostile: str) -> None:
    async def scenario() -> None:
        server = await FakeAsterisk().start()
        client = client_for(server)
        await client.connect()
        session = server.sessions[0]
        before = len(session.raw)
        with pytest.raises(UnsafeValue):
            await client.action("VoicemailRefresh", {"Context": "default", "Mailbox": hostile})
        with pytest.raises(UnsafeValue):
            await client.action("VoicemailRefresh", [(hostile, "x")])
        await client.action("Ping")  # a later frame: the server has read everything sent before it
        assert [m.action for m in session.actions[1:]] == ["Ping"]
        assert session.raw[before:].startswith(b"Action: Ping\r\n")
        await client.close()
        await server.stop()

    run(scenario)


def test_in_flight_action_fails_on_disconnect_and_is_never_resent() -> None:
    async def on_action(session: Session, msg: AmiMessage) -> None:
        if msg.action == "Originate":
            session.drop()  # Asterisk goes away before answering

    async def scenario() -> None:
        server = await FakeAsterisk(on_action).start()
        client = client_for(server)
        connects: list[int] = []

        async def on_connect(c: AmiClient) -> None:
            connects.append(len(server.sessions))

        task = await started(client, on_connect)
        with pytest.raises(AmiConnectionLost, match="not re-sent"):
            await client.action("Originate", {"Channel": "Local/play@vmlab/n", "Application": "VoiceMail"})
        await until(lambda: len(connects) == 2)
        await client.wait_connected()
        assert (await client.action("Ping")).status == "Success"
        assert len(server.received("Originate")) == 1
        assert [m.action for m in server.sessions[1].actions] == ["Login", "Ping"]
        await client.close()
        await task
        await server.stop()

    run(scenario)


def test_ping_watchdog_drops_a_half_open_connection_and_reconnects(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        server = await FakeAsterisk(answer_ping=False).start()  # accepts, then never answers: half-open
        client = client_for(server, ping_interval=0.02, ping_timeout=0.05)
        task = await started(client)
        await until(lambda: len(server.sessions) >= 2 and server.sessions[0].closed.is_set())
        await client.wait_connected()
        assert len(server.received("Ping")) >= 1
        await client.close()
        await task
        await server.stop()

    with caplog.at_level(logging.INFO, logger="voicemail.ami.client"):
        run(scenario)
    assert any("did not answer Ping" in r.getMessage() for r in caplog.records)


def test_a_raising_callback_is_logged_and_the_reader_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    async def on_action(session: Session, msg: AmiMessage) -> None:
        await session.send(b"Event: MessageWaiting\r\nMailbox: 1001@default\r\nWaiting: 1\r\nNew: 1\r\n"
                           b"Old: 0\r\n\r\nEvent: MessageWaiting\r\nMailbox: 1002@default\r\nWaiting: 0\r\n"
                           b"New: 0\r\nOld: 0\r\n\r\n" + response(msg.action_id or "", "Message: sent"))

    async def scenario() -> None:
        server = await FakeAsterisk(on_action).start()
        client = client_for(server)
        got: list[str | None] = []

        def broken(ev: AmiMessage) -> None:
            raise RuntimeError("subscriber bug")

        async def broken_async(ev: AmiMessage) -> None:
            raise RuntimeError("async subscriber bug")

        client.subscribe(broken)
        client.subscribe(broken_async)
        client.subscribe(lambda ev: got.append(ev.get("Mailbox")))
        await client.connect()
        await client.action("UserEvent")
        assert got[-2:] == ["1001@default", "1002@default"]
        assert (await client.action("Ping")).status == "Success"  # the reader is alive
        await asyncio.sleep(0)  # let the async callbacks finish
        await client.close()
        await server.stop()

    with caplog.at_level(logging.ERROR, logger="voicemail.ami.client"):
        run(scenario)
    failures = [r for r in caplog.records if "callback" in r.getMessage()]
    assert len(failures) >= 2  # both subscribers, both events at least once each
    assert all("1001" not in r.getMessage() for r in caplog.records)  # no event content in logs


def test_outage_is_logged_once_when_it_starts_and_once_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        server = await FakeAsterisk().start()
        port = server.port
        client = client_for(server)
        task = await started(client)
        await server.stop()  # Asterisk goes down
        await until(lambda: sum("reconnect attempt" in r.getMessage() for r in caplog.records) >= 3)
        server = await FakeAsterisk().start(port)  # and comes back
        await server.connected.wait()
        await client.wait_connected()
        await client.close()
        await task
        await server.stop()

    with caplog.at_level(logging.DEBUG, logger="voicemail.ami.client"):
        run(scenario)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    restored = [r.getMessage() for r in caplog.records if "restored after" in r.getMessage()]
    assert len(warnings) == 1 and "lost" in warnings[0]
    assert len(restored) == 1 and caplog.records[-1].levelno <= logging.INFO


def test_malformed_frames_do_not_crash_the_client() -> None:
    async def on_action(session: Session, msg: AmiMessage) -> None:
        if msg.action == "Garbage":
            await session.send(b"hello world\r\n\r\nEvent: X\r\nbroken line\r\n\r\n:::\r\n\r\n"
                               + response(msg.action_id or "", "Message: fine"))
        elif msg.action == "Oversize":
            await session.send(b"Event: Huge\r\nData: " + b"x" * 10_000)  # never terminated

    async def scenario() -> None:
        server = await FakeAsterisk(on_action).start()
        client = client_for(server, max_message_bytes=4096)
        events: list[str | None] = []
        client.subscribe(lambda ev: events.append(ev.event))
        task = await started(client)
        assert (await client.action("Garbage")).message == "fine"
        assert "X" in events
        with pytest.raises(AmiConnectionLost):
            await client.action("Oversize")
        await until(lambda: len(server.sessions) == 2)
        await client.wait_connected()
        assert (await client.action("Ping")).status == "Success"
        await client.close()
        await task
        await server.stop()

    run(scenario)


def test_refused_login_raises_auth_error_and_is_not_retried() -> None:
    async def scenario() -> None:
        server = await FakeAsterisk(login_ok=False).start()
        client = client_for(server)
        with pytest.raises(AmiAuthError, match="Authentication failed"):
            await client.connect()
        with pytest.raises(AmiAuthError):
            await client.run_forever()
        with pytest.raises(AmiAuthError):
            await client.wait_connected(1.0)
        assert server.logins == 2  # one for connect(), one for run_forever(): no retry loop
        await server.stop()

    run(scenario)


def test_no_reply_times_out_as_transient_and_the_connection_stays_usable() -> None:
    async def on_action(session: Session, msg: AmiMessage) -> None:
        if msg.action == "Slow":
            return  # never answers this one
        await session.send(response(msg.action_id or "", "Message: ok"))

    async def scenario() -> None:
        server = await FakeAsterisk(on_action).start()
        client = client_for(server)
        await client.connect()
        with pytest.raises(AmiTimeout) as caught:
            await client.action("Slow", timeout=0.05)
        assert isinstance(caught.value, TransientError)
        assert (await client.action("Fast")).message == "ok"
        await client.close()
        await server.stop()

    run(scenario)


def test_action_when_not_connected_fails_fast() -> None:
    async def scenario() -> None:
        client = AmiClient("127.0.0.1", 9, "u", "s")
        with pytest.raises(AmiConnectionLost):
            await client.action("Ping")

    run(scenario)


def test_event_stream_yields_events_not_replies() -> None:
    async def on_action(session: Session, msg: AmiMessage) -> None:
        await session.send(response(msg.action_id or "") + b"Event: MessageWaiting\r\nMailbox: 2001@default\r\n"
                           b"Waiting: 1\r\nNew: 46\r\nOld: 0\r\n\r\n")

    async def scenario() -> None:
        server = await FakeAsterisk(on_action).start()
        client = client_for(server)
        async with client.events() as stream:
            await client.connect()
            await client.action("VoicemailRefresh")
            names = [(await anext(stream)).event, (await anext(stream)).event]
        assert names == ["FullyBooted", "MessageWaiting"]
        await client.close()
        await server.stop()

    run(scenario)


def test_close_during_backoff_ends_run_forever_at_once() -> None:
    async def scenario() -> None:
        server = await FakeAsterisk().start()
        port = server.port
        await server.stop()  # nothing listens: every attempt is refused
        client = AmiClient("127.0.0.1", port, "lab", "labsecret", ping_interval=0,
                           reconnect_min=LIMIT * 2, reconnect_max=LIMIT * 4)  # a backoff longer than the test
        task = asyncio.create_task(client.run_forever())
        await asyncio.sleep(0.05)
        await client.close()
        await task
        with pytest.raises(AmiConnectionLost):
            await client.wait_connected()

    run(scenario)


def test_cancelling_run_forever_closes_the_connection() -> None:
    async def scenario() -> None:
        server = await FakeAsterisk().start()
        client = client_for(server)
        task = await started(client)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not client.connected
        await server.sessions[0].closed.wait()
        await server.stop()

    run(scenario)


def test_tls_connection_with_a_trusted_certificate(tmp_path: Path) -> None:
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client_ctx = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))

    async def scenario() -> None:
        server = await FakeAsterisk().start(ssl=server_ctx)
        port = server.port
        client = AmiClient("localhost", port, "lab", "labsecret", ssl=client_ctx, ping_interval=0)
        await client.connect()
        assert (await client.action("Ping")).status == "Success"
        await client.close()
        untrusting = AmiClient("localhost", port, "lab", "labsecret", ssl=ssl.create_default_context(),
                               ping_interval=0)
        with pytest.raises(AmiConnectionLost, match="certificate"):
            await untrusting.connect()
        await server.stop()

    run(scenario)
