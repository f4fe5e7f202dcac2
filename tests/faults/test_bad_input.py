"""Bad input end to end: a hostile caller name, a truncated WAV, a .txt with missing keys, and a
mailbox id with '../' -> a clear error, nothing else changed, nothing crashed."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from tests.integration.pipeline.harness import VOICEMAIL, Site, make_wav, sha256, wait_async
from voicemail.ami.listener import Listener
from voicemail.ami.parser import AmiParser
from voicemail.service import build_service

pytestmark = [pytest.mark.slow]

HOSTILE_NAMES = [
    "Evil\r\nBcc: victim@example.test",
    "Nul\x00Byte",
    "A" * 10_000,
    "\u202eevil\u202c <script>alert(1)</script> &amp;",
]


def _site(tmp_path: Path) -> Site:
    site = Site(tmp_path / "site", database_url=f"sqlite:///{tmp_path / 'site' / 'vm.db'}")
    site.prepare()
    site.start_standin()
    return site


def test_hostile_callers_truncated_wav_and_broken_envelope_do_not_stop_the_pipeline(tmp_path: Path) -> None:
    site = _site(tmp_path)
    standin = site.standin
    assert standin is not None
    # a broken envelope dropped into the spool by hand: left untouched and reported
    inbox = site.spool / "default" / "1002" / "INBOX"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "msg0050.txt").write_text(";\n; Message Information file\n;\n[message]\norigmailbox=1002\n")
    broken_audio = make_wav(0.2, seed=1)
    (inbox / "msg0050.wav").write_bytes(broken_audio)
    truncated = make_wav(1.0, seed=2)[:700]

    async def scenario() -> list[tuple[str, bytes]]:
        service = build_service(site.settings())
        stop = asyncio.Event()
        runner = asyncio.create_task(service.run(stop))
        left: list[tuple[str, bytes]] = []
        try:
            await asyncio.wait_for(service.client.wait_connected(), 15)
            for i, name in enumerate(HOSTILE_NAMES):
                audio = make_wav(0.3, seed=10 + i)
                msg_id = await asyncio.to_thread(standin.leave_message, "2001@default", f'"{name}" <+12025550188>',
                                                 caller_context="vm-from-trunk", audio=audio)
                assert msg_id is not None
                left.append((msg_id, audio))
            msg_id = await asyncio.to_thread(standin.leave_message, "2001@default", '"Alice Internal" <1001>',
                                             caller_context="vm-internal", audio=truncated)
            assert msg_id is not None
            left.append((msg_id, truncated))
            await wait_async(lambda: site.sent() >= len(left), 60, "every notification")
        finally:
            stop.set()
            await runner
            await service.close()
        return left

    try:
        left = asyncio.run(scenario())
        for msg_id, audio in left:
            assert sha256(site.open_sealed("2001@default", msg_id)) == sha256(audio)  # truncated WAV kept as is
        for path in site.emls():
            raw = path.read_bytes()
            assert b"victim@example.test" not in raw and b"<script>" not in raw and b"AAAAAAAAAA" not in raw
            assert b"5550188" not in raw
        # the broken envelope and its audio are exactly as they were
        assert (inbox / "msg0050.wav").read_bytes() == broken_audio
        assert "msg_id" not in (inbox / "msg0050.txt").read_text()
        result = subprocess.run([VOICEMAIL, "reconcile"], env=site.env(), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "problems: 1" in result.stdout and "msg0050.txt" in result.stdout
    finally:
        site.stop_all()


def test_message_waiting_for_a_path_like_mailbox_is_ignored(tmp_path: Path) -> None:
    seen: list[object] = []

    class Discovery:
        def scan(self, mailbox: object) -> None:
            seen.append(mailbox)

    listener = Listener(client=None, discovery=Discovery(), save_owner=lambda _o: None)  # type: ignore[arg-type]
    frame = (b"Event: MessageWaiting\r\nPrivilege: call,all\r\nSystemName: astlab\r\n"
             b"Mailbox: ../../etc@default\r\nWaiting: 1\r\nNew: 1\r\nOld: 0\r\n\r\n")
    for message in AmiParser(expect_banner=False).feed(frame):
        listener.on_event(message)
    assert listener._dirty == set()


def test_export_refuses_a_path_like_mailbox(tmp_path: Path) -> None:
    site = Site(tmp_path / "site", database_url=f"sqlite:///{tmp_path / 'site' / 'vm.db'}")
    site.prepare()
    out = tmp_path / "out.wav"
    result = subprocess.run([VOICEMAIL, "message", "export", "../../etc@default", "1795978545-00000000", "-o",
                             str(out), "--reason", "test"], env=site.env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "invalid mailbox name" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
