"""The owner's audio from real sealed messages (the custody pipeline against the stand-in): whole and
ranged reads bit-identical to what Asterisk recorded, wav49 transcoded, access and audit."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pytest

from tests.integration.mailbox.harness import ADMIN, ALICE, BOB, MailboxSite, mailbox_site
from tests.integration.pipeline.harness import make_wav
from tests.requirements import require_binary
from voicemail.domain.errors import NotFound, RangeNotSatisfiable
from voicemail.domain.mailbox import ByteRange

AUDIO = make_wav(9.0, seed=7)  # 144 kB: three vault chunks of 64 KiB


@pytest.fixture
def message(box: MailboxSite) -> str:
    return box.leave("1001@default", AUDIO)


def play(box: MailboxSite, mid: str, rng: ByteRange | None, viewer=ALICE) -> tuple[bytes, object]:  # type: ignore[no-untyped-def]
    stream = box.mailboxes.audio(viewer, mid, rng)
    return b"".join(stream.chunks), stream


def test_owner_hears_the_message_bit_identical_and_it_is_audited_once(box: MailboxSite, message: str) -> None:
    data, stream = play(box, message, None)
    assert data == AUDIO
    assert (stream.content_type, stream.start, stream.end, stream.total, stream.partial) == (  # type: ignore[attr-defined]
        "audio/wav", 0, len(AUDIO) - 1, len(AUDIO), False)
    plays = [e for e in box.audit(message) if e[1] == "audio.play"]
    assert plays == [("alice", "audio.play", "ok", {"content_type": "audio/wav", "format": "browser",
                                                    "range": "all", "total": len(AUDIO)})]


@pytest.mark.parametrize(("rng", "start", "end"), [
    (ByteRange(0, 43), 0, 43),  # the WAV header
    (ByteRange(65_000, 70_000), 65_000, 70_000),  # across a vault chunk boundary
    (ByteRange(None, None, suffix=500), len(AUDIO) - 500, len(AUDIO) - 1),
    (ByteRange(len(AUDIO) - 1, None), len(AUDIO) - 1, len(AUDIO) - 1),  # the last byte
    (ByteRange(100_000, None), 100_000, len(AUDIO) - 1),
])
def test_byte_ranges_serve_exactly_those_bytes(box: MailboxSite, message: str, rng: ByteRange,
                                               start: int, end: int) -> None:
    data, stream = play(box, message, rng)
    assert data == AUDIO[start:end + 1]
    assert (stream.start, stream.end, stream.total, stream.partial) == (start, end, len(AUDIO), True)  # type: ignore[attr-defined]
    assert [e[3]["range"] for e in box.audit(message) if e[1] == "audio.play"] == [f"{start}-{end}"]


def test_a_range_beyond_the_end_is_not_satisfiable_and_serves_nothing(box: MailboxSite, message: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        box.mailboxes.audio(ALICE, message, ByteRange(len(AUDIO), None))
    assert [e for e in box.audit(message) if e[1] == "audio.play"] == []


def test_administrator_and_other_owner_cannot_play_and_are_told_nothing(box: MailboxSite, message: str) -> None:
    for viewer in (ADMIN, BOB):
        with pytest.raises(NotFound) as denied:
            box.mailboxes.audio(viewer, message, None)
        with pytest.raises(NotFound) as missing:
            box.mailboxes.audio(viewer, "00000000-0000-0000-0000-000000000000", None)
        assert type(denied.value) is type(missing.value)
    assert [(a, o) for a, act, o, _d in box.audit(message) if act == "audio.play"] == [
        ("root-admin", "denied"), ("bob", "denied")]  # both refusals audited
    with pytest.raises(NotFound):
        box.mailboxes.message(BOB, message)
    assert box.mailboxes.message(ADMIN, message).id == message  # metadata: yes


def test_owner_sees_an_outside_caller_and_the_administrator_does_not(box: MailboxSite) -> None:
    mid = box.leave("1001@default", make_wav(1.0, 3), callerid="+12025550123", context="vm-from-trunk")
    anon = box.leave("1001@default", make_wav(1.0, 4), callerid=None, context="vm-from-trunk")
    mine = box.mailboxes.message(ALICE, mid)
    assert (mine.caller_kind, mine.caller_number) == ("external", "+12025550123")
    theirs = box.mailboxes.message(ADMIN, mid)
    assert (theirs.caller_kind, theirs.caller_number, theirs.caller_name) == ("external", None, None)
    anonymous = box.mailboxes.message(ALICE, anon)
    assert (anonymous.caller_kind, anonymous.caller_number) == ("anonymous", None)


def test_wav49_only_message_is_transcoded_to_a_pcm_wav_the_browser_can_play(tmp_path: Path) -> None:
    require_binary("ffmpeg", package="ffmpeg")
    audio = make_wav(6.0, seed=11)
    with mailbox_site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}", formats=("wav49",)) as site:
        mid = site.leave("1001@default", audio)
        assert site.mailboxes.message(ALICE, mid).formats == ("WAV",)
        stream = site.mailboxes.audio(ALICE, mid, None)
        data = b"".join(stream.chunks)
        blocks = (6 * 8000) // 320 + (1 if (6 * 8000) % 320 else 0)
        assert stream.content_type == "audio/wav" and stream.total == len(data)
        with wave.open(io.BytesIO(data)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
            assert abs(w.getnframes() - blocks * 320) <= 320
            assert len(w.readframes(w.getnframes())) == w.getnframes() * 2
        middle = site.mailboxes.audio(ALICE, mid, ByteRange(20_000, 29_999))
        assert (middle.start, middle.end, middle.total) == (20_000, 29_999, len(data))
        assert len(b"".join(middle.chunks)) == 10_000
        original = site.mailboxes.audio(ALICE, mid, ByteRange(0, 3), fmt="original")
        assert b"".join(original.chunks) == b"RIFF" and original.content_type.startswith("audio/vnd.wave")


def test_with_wav49_and_wav_the_pcm_recording_is_served_as_it_is(tmp_path: Path) -> None:
    audio = make_wav(2.0, seed=12)
    with mailbox_site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}", formats=("wav49", "wav")) as site:
        mid = site.leave("1001@default", audio)
        assert site.mailboxes.message(ALICE, mid).formats == ("WAV", "wav")
        stream = site.mailboxes.audio(ALICE, mid, None)
        assert b"".join(stream.chunks) == audio and stream.total == len(audio)
