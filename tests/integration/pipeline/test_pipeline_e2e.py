"""End to end: a real Celery worker process, the real Redis broker and PostgreSQL, `voicemail run` as
the listener, and the Asterisk stand-in leaving messages."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest

from tests.integration.pipeline.harness import CALLERS, EXTERNAL_NUMBER, Site, make_wav, sha256, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
N = 12


# Our random identifiers (message ids in links, MIME boundaries) may contain any four digits by chance.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _external_bytes_absent(raw: bytes) -> None:
    digits = EXTERNAL_NUMBER.lstrip("+")
    needles = {EXTERNAL_NUMBER, digits} | {digits[i:i + 4] for i in range(len(digits) - 3)}
    text = _UUID.sub("<uuid>", raw.decode("ascii", "replace"))
    msg = email.message_from_bytes(raw, policy=policy.default)
    decoded = [_UUID.sub("<uuid>", str(v)) for _k, v in msg.items()]
    decoded += [_UUID.sub("<uuid>", part.get_content()) for part in msg.walk() if not part.is_multipart()]
    for needle in needles:
        assert needle not in text, f"external caller digits {needle!r} in the raw .eml"
        for piece in decoded:
            assert needle not in piece, f"external caller digits {needle!r} in a decoded part"


def test_messages_are_sealed_stripped_and_announced_exactly_once(site: Site) -> None:
    site.spawn("worker", "--concurrency", "2", log="worker")
    site.spawn("run", log="run")
    assert site.standin is not None
    wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
    left: list[tuple[str, str, bytes, str | None]] = []
    for i in range(N):
        callerid, context = CALLERS[i % len(CALLERS)]
        mailbox = ("1001@default", "1002@default", "2001@default")[i % 3]
        audio = make_wav(1.0, seed=i)
        msg_id = site.standin.leave_message(mailbox, callerid, caller_context=context, audio=audio)
        assert msg_id is not None
        left.append((mailbox, msg_id, audio, callerid))
    try:
        wait_for(lambda: site.sent() >= N, 90, f"{N} notifications")
    except AssertionError:
        print(site.logs())
        raise

    with site.store() as store:
        summary = store.summary()
    assert summary == {"messages.stripped": N, "notifications.sent": N}
    # every recording sealed, bit-identical to what the stand-in (Asterisk) wrote
    for mailbox, msg_id, audio, _caller in left:
        assert sha256(site.open_sealed(mailbox, msg_id)) == sha256(audio)
    blobs = [p for p in (site.root / "vault").rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert len(blobs) == N
    # the spool keeps every .txt and holds only placeholders
    assert len(list(site.spool.rglob("msg*.txt"))) == N
    assert len(site.spool_audio()) == N
    assert site.plaintext_left() == []
    # one notification per message, and outside callers appear nowhere in theirs
    emls = site.emls()
    assert len(emls) == N
    subjects = [email.message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"] for p in emls]
    assert subjects.count("Voice message from Alice Internal (1001)") == N // 3
    assert subjects.count("Voice message from an outside caller") == 2 * N // 3
    for path in emls:
        raw = path.read_bytes()
        if b"Alice Internal (1001)" not in raw:
            _external_bytes_absent(raw)


def test_voicemail_run_alone_is_a_whole_system_on_the_embedded_transport(tmp_path: Path) -> None:
    s = Site(tmp_path / "embedded", database_url=f"sqlite:///{tmp_path / 'embedded' / 'vm.db'}")
    s.prepare()
    s.start_standin()
    assert s.standin is not None
    try:
        s.spawn("run", log="run")
        wait_for(lambda: s.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
        audio = make_wav(0.5, seed=77)
        msg_id = s.standin.leave_message("1002@default", EXTERNAL_NUMBER, caller_context="vm-from-trunk", audio=audio)
        assert msg_id is not None
        try:
            wait_for(lambda: s.sent() >= 1, 30, "the notification")
        except AssertionError:
            print(s.logs())
            raise
        assert sha256(s.open_sealed("1002@default", msg_id)) == sha256(audio)
        assert s.plaintext_left() == []
        _external_bytes_absent(s.emls()[0].read_bytes())
        # the call's AMI Cdr events (one per channel of the Local pair) are stored for CDR release
        wait_for(lambda: s.cdr_count() >= 2, 10, "the call's Cdr events in the database")
    finally:
        s.stop_all()
