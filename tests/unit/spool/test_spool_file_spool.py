"""FileSpool listing, finding and reading, on spools built from the captured Asterisk files."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import CAPTURES
from voicemail.domain.errors import ConfigError, InvalidInput, InvalidMailbox, SpoolChanged
from voicemail.domain.models import MailboxRef, SpoolMessage
from voicemail.domain.ports import Spool
from voicemail.spool import FileSpool, SpoolPathRefused, parse_envelope, placeholder_bytes

MSG_Q1 = "1795978545-00000000"  # msg0000.txt
MSG_EXT = "1795978807-00000000"  # spool-1002-INBOX-msg0000.ami-callerid-external.txt
MSG_NOCID = "1795978820-00000001"  # spool-1002-INBOX-msg0001.ami-no-callerid.txt
MSG_WAV49 = "1795979828-00000054"  # format-wav49-msg0016.txt
BOX_1001 = MailboxRef("default", "1001")
BOX_1002 = MailboxRef("default", "1002")


def later() -> float:
    """A clock an hour ahead: every file counts as settled (older than the grace period)."""
    return time.time() + 3600


def put(root: Path, where: str, number: int, txt: str | None, audio: dict[str, str]) -> Path:
    folder = root / where
    folder.mkdir(parents=True, exist_ok=True)
    if txt is not None:
        shutil.copyfile(CAPTURES / txt, folder / f"msg{number:04d}.txt")
    for ext, source in audio.items():
        shutil.copyfile(CAPTURES / source, folder / f"msg{number:04d}.{ext}")
    return folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    spool = tmp_path / "voicemail"
    put(spool, "default/1001/INBOX", 0, "msg0000.txt", {"wav": "msg0000.wav"})
    for folder in ("Old", "Work", "Urgent", "Deleted"):
        (spool / "default/1001" / folder).mkdir()
    put(
        spool, "default/1001/tmp", 0, "spool-2001-INBOX-msg0000.dialplan-vmleave-int.txt", {"wav": "msg0000.wav"}
    )  # Asterisk's work area: never listed
    put(spool, "default/1002/INBOX", 0, "spool-1002-INBOX-msg0000.ami-callerid-external.txt", {"wav": "msg0000.wav"})
    put(spool, "default/1002/INBOX", 1, "spool-1002-INBOX-msg0001.ami-no-callerid.txt", {"wav": "msg0000.wav"})
    put(
        spool,
        "default/1002/Old",
        16,
        "format-wav49-msg0016.txt",
        {"WAV": "format-wav49-msg0016.WAV", "wav": "msg0000.wav"},
    )
    (spool / "default/2001").mkdir()
    return spool


def test_file_spool_implements_the_spool_port(root: Path) -> None:
    port: Spool = FileSpool(root, ("wav",))  # mypy checks the Protocol conformance here
    assert port.mailboxes()


def test_mailboxes_lists_context_and_mailbox_directories(root: Path) -> None:
    (root / "other" / "3001").mkdir(parents=True)
    (root / "default" / "bad name").mkdir()
    (root / "default" / ".hidden").mkdir()
    (root / "default" / "greeting.wav").write_bytes(b"x")
    assert FileSpool(root).mailboxes() == [
        MailboxRef("default", "1001"),
        MailboxRef("default", "1002"),
        MailboxRef("default", "2001"),
        MailboxRef("other", "3001"),
    ]


def test_missing_root_is_a_config_error(tmp_path: Path) -> None:
    spool = FileSpool(tmp_path / "nope")
    with pytest.raises(ConfigError, match="spool root"):
        spool.mailboxes()
    with pytest.raises(ConfigError, match="spool root"):
        spool.scan(BOX_1001)


def test_scan_finds_the_captured_message(root: Path) -> None:
    scan = FileSpool(root, clock=later).scan(BOX_1001)
    assert scan.problems == ()
    [message] = scan.messages
    assert (message.mailbox, message.folder, message.number) == (BOX_1001, "INBOX", 0)
    assert message.envelope.msg_id == MSG_Q1
    assert message.txt_path == str(root / "default/1001/INBOX/msg0000.txt")
    assert [(a.fmt, a.path) for a in message.audio] == [("wav", str(root / "default/1001/INBOX/msg0000.wav"))]


def test_scan_lists_every_folder_and_ignores_tmp(root: Path) -> None:
    scan = FileSpool(root, clock=later).scan(BOX_1002)
    assert [(m.folder, m.number, m.envelope.msg_id) for m in scan.messages] == [
        ("INBOX", 0, MSG_EXT),
        ("INBOX", 1, MSG_NOCID),
        ("Old", 16, MSG_WAV49),
    ]
    assert [m.txt_path for m in FileSpool(root, clock=later).scan(BOX_1001).messages] == [
        str(root / "default/1001/INBOX/msg0000.txt")
    ]


def test_scan_orders_audio_by_the_formats_hint(root: Path) -> None:
    wav49 = FileSpool(root, ("WAV", "wav"), clock=later).scan(BOX_1002).messages[2]
    assert [a.fmt for a in wav49.audio] == ["WAV", "wav"]
    plain = FileSpool(root, ("wav", "WAV"), clock=later).scan(BOX_1002).messages[2]
    assert [a.fmt for a in plain.audio] == ["wav", "WAV"]


def test_empty_or_missing_mailbox_scans_empty(root: Path) -> None:
    spool = FileSpool(root, clock=later)
    assert spool.scan(MailboxRef("default", "2001")).messages == ()
    assert spool.scan(MailboxRef("default", "9999")).messages == ()


def test_old_malformed_envelope_is_a_problem_naming_the_key_not_the_content(root: Path) -> None:
    folder = root / "default/1001/INBOX"
    text = (folder / "msg0000.txt").read_bytes()
    (folder / "msg0001.txt").write_bytes(text.replace(b"duration=3\n", b""))
    (folder / "msg0001.wav").write_bytes(b"RIFF")
    scan = FileSpool(root, clock=later).scan(BOX_1001)
    assert [m.number for m in scan.messages] == [0]
    [problem] = scan.problems
    assert problem.path == str(folder / "msg0001.txt")
    assert "'duration'" in problem.reason
    assert "Alice" not in problem.reason and "1001" not in problem.reason


def test_young_malformed_envelope_is_skipped_silently(root: Path) -> None:
    folder = root / "default/1001/INBOX"
    (folder / "msg0001.txt").write_bytes(b";\n[message]\norigmailbox=1001\n")
    (folder / "msg0001.wav").write_bytes(b"RIFF")
    settled_at = (folder / "msg0001.txt").stat().st_ctime
    scan = FileSpool(root, clock=lambda: settled_at + 1).scan(BOX_1001)
    assert [m.number for m in scan.messages] == [0]
    assert scan.problems == ()


def test_envelope_without_audio_is_skipped_while_young_and_a_problem_when_old(root: Path) -> None:
    folder = root / "default/1001/INBOX"
    (folder / "msg0000.wav").unlink()
    ctime = (folder / "msg0000.txt").stat().st_ctime
    young = FileSpool(root, clock=lambda: ctime + 1).scan(BOX_1001)
    assert young.messages == () and young.problems == ()
    old = FileSpool(root, clock=lambda: ctime + 11).scan(BOX_1001)
    assert old.messages == ()
    [problem] = old.problems
    assert problem.path == str(folder / "msg0000.txt")
    assert "no audio" in problem.reason


def test_young_message_missing_a_hinted_format_waits_then_lists_what_is_there(root: Path) -> None:
    folder = root / "default/1002/Old"
    (folder / "msg0016.WAV").unlink()
    ctime = max((folder / name).stat().st_ctime for name in ("msg0016.txt", "msg0016.wav"))
    young = FileSpool(root, ("WAV", "wav"), clock=lambda: ctime + 1).scan(BOX_1002)
    assert 16 not in [m.number for m in young.messages]
    assert young.problems == ()
    old = FileSpool(root, ("WAV", "wav"), clock=lambda: ctime + 60).scan(BOX_1002)
    assert [a.fmt for a in old.messages[2].audio] == ["wav"]


def test_old_audio_without_envelope_is_reported(root: Path) -> None:
    folder = root / "default/1001/INBOX"
    shutil.copyfile(CAPTURES / "msg0000.wav", folder / "msg0007.wav")
    scan = FileSpool(root, clock=later).scan(BOX_1001)
    assert [(p.path, p.reason) for p in scan.problems] == [
        (str(folder / "msg0007"), "audio without an envelope (.txt)")
    ]


def test_find_locates_a_message_by_msg_id(root: Path) -> None:
    spool = FileSpool(root, clock=later)
    found = spool.find(BOX_1002, MSG_WAV49)
    assert found is not None
    assert (found.folder, found.number) == ("Old", 16)
    assert spool.find(BOX_1002, "1795978545-0000ffff") is None
    assert spool.find(MailboxRef("default", "9999"), MSG_Q1) is None


def test_find_survives_renumbering_and_moves(root: Path) -> None:
    spool = FileSpool(root, clock=later)
    folder = root / "default/1002/INBOX"
    before = spool.find(BOX_1002, MSG_NOCID)
    assert before is not None and before.number == 1
    # VoicemailBoxSummary / Remove renumber: msg0000 goes, msg0001 becomes msg0000 (capture q2).
    for ext in ("txt", "wav"):
        (folder / f"msg0000.{ext}").unlink()
        (folder / f"msg0001.{ext}").rename(folder / f"msg0000.{ext}")
    after = spool.find(BOX_1002, MSG_NOCID)
    assert after is not None and (after.folder, after.number) == ("INBOX", 0)
    # VoicemailMove INBOX -> Old puts it in another folder under yet another number.
    for ext in ("txt", "wav"):
        (folder / f"msg0000.{ext}").rename(root / f"default/1002/Old/msg0000.{ext}")
    moved = spool.find(BOX_1002, MSG_NOCID)
    assert moved is not None and (moved.folder, moved.number) == ("Old", 0)


def test_find_hinted_reads_many_messages_at_their_slots_and_leaves_the_others_to_find(root: Path) -> None:
    spool = FileSpool(root, clock=later)
    hints = [(MSG_EXT, "INBOX", 0), (MSG_NOCID, "INBOX", 1), (MSG_WAV49, "Old", 16),
             (MSG_Q1, "INBOX", 0),  # the msg_id of another mailbox's message: not at that slot
             (MSG_NOCID, "Work", 3), ("../../etc/passwd", "INBOX", 0), (MSG_EXT, "tmp", 0)]  # nothing there; refused
    found = spool.find_hinted(BOX_1002, hints)
    assert sorted(found) == sorted([MSG_EXT, MSG_NOCID, MSG_WAV49])
    for msg_id, message in found.items():
        assert message == spool.find(BOX_1002, msg_id)  # exactly what find() reads
    folder = root / "default/1002/INBOX"  # renumbered: msg0001 went, the slot holds nobody now
    for ext in ("txt", "wav"):
        (folder / f"msg0001.{ext}").rename(root / f"default/1002/Old/msg0003.{ext}")
    assert sorted(spool.find_hinted(BOX_1002, hints[:3])) == sorted([MSG_EXT, MSG_WAV49])
    assert spool.find_hinted(MailboxRef("default", "9999"), hints[:3]) == {}


def test_find_hinted_leaves_out_a_slot_with_a_link_among_its_files(root: Path, tmp_path: Path) -> None:
    folder = root / "default/1002/Old"
    (folder / "msg0016.gsm").symlink_to(tmp_path / "elsewhere.gsm")
    spool = FileSpool(root, clock=later)
    hints = [(MSG_WAV49, "Old", 16), (MSG_EXT, "INBOX", 0)]
    assert list(spool.find_hinted(BOX_1002, hints)) == [MSG_EXT]  # as find() reads a hinted slot


def test_envelope_and_placeholders_reads_what_discovery_needs_in_one_look(root: Path) -> None:
    spool = FileSpool(root, clock=later)
    message = spool.find(BOX_1002, MSG_WAV49)
    assert message is not None and [a.fmt for a in message.audio] == ["WAV", "wav"]
    assert spool.envelope_and_placeholders(message) == (spool.read_envelope_bytes(message), False)
    folder = root / "default/1002/Old"
    (folder / "msg0016.wav").write_bytes(placeholder_bytes("wav"))
    assert spool.envelope_and_placeholders(message)[1] is False  # one format is still a recording
    (folder / "msg0016.WAV").write_bytes(placeholder_bytes("WAV"))
    assert spool.envelope_and_placeholders(message) == (spool.read_envelope_bytes(message), True)
    assert all(spool.is_placeholder(message, a.fmt) for a in message.audio)


def test_find_refuses_an_invalid_msg_id(root: Path) -> None:
    with pytest.raises(InvalidInput):
        FileSpool(root).find(BOX_1001, "../../etc/passwd")


def test_open_audio_and_read_envelope_return_the_bytes_asterisk_wrote(root: Path) -> None:
    spool = FileSpool(root, clock=later)
    message = spool.find(BOX_1001, MSG_Q1)
    assert message is not None
    with spool.open_audio(message, "wav") as audio:
        assert audio.read() == (CAPTURES / "msg0000.wav").read_bytes()
    assert spool.read_envelope_bytes(message) == (CAPTURES / "msg0000.txt").read_bytes()


def test_stale_message_raises_spool_changed_after_renumbering(root: Path) -> None:
    spool = FileSpool(root, clock=later)
    folder = root / "default/1002/INBOX"
    stale = spool.find(BOX_1002, MSG_EXT)
    assert stale is not None and stale.number == 0
    for ext in ("txt", "wav"):
        (folder / f"msg0000.{ext}").unlink()
        (folder / f"msg0001.{ext}").rename(folder / f"msg0000.{ext}")
    with pytest.raises(SpoolChanged):
        spool.open_audio(stale, "wav")
    with pytest.raises(SpoolChanged):
        spool.read_envelope_bytes(stale)
    with pytest.raises(SpoolChanged):
        spool.is_placeholder(stale, "wav")


def test_vanished_message_raises_spool_changed(root: Path) -> None:
    spool = FileSpool(root, clock=later)
    message = spool.find(BOX_1001, MSG_Q1)
    assert message is not None
    shutil.rmtree(root / "default/1001/INBOX")
    with pytest.raises(SpoolChanged):
        spool.open_audio(message, "wav")


# --- hostile paths ------------------------------------------------------------------------------


def forged_mailbox(context: str, mailbox: str) -> MailboxRef:
    """A MailboxRef that skipped validation (as a bug or an attacker elsewhere might produce)."""
    ref = object.__new__(MailboxRef)
    object.__setattr__(ref, "context", context)
    object.__setattr__(ref, "mailbox", mailbox)
    return ref


def test_mailbox_with_dot_dot_is_refused_by_the_model() -> None:
    with pytest.raises(InvalidMailbox):
        MailboxRef.parse("../../etc@default")
    with pytest.raises(InvalidMailbox):
        MailboxRef("..", "1001")


@pytest.mark.parametrize(("context", "mailbox"), [("default", "../1001"), ("..", "x"), ("default", "a/b")])
def test_forged_mailbox_is_refused_before_touching_the_disk(tmp_path: Path, context: str, mailbox: str) -> None:
    spool = FileSpool(tmp_path / "does-not-exist")  # touching the disk would raise ConfigError instead
    bad = forged_mailbox(context, mailbox)
    with pytest.raises(InvalidMailbox):
        spool.scan(bad)
    with pytest.raises(InvalidMailbox):
        spool.find(bad, MSG_Q1)


def test_forged_message_places_are_refused(root: Path) -> None:
    spool = FileSpool(root, clock=later)
    message = spool.find(BOX_1001, MSG_Q1)
    assert message is not None
    fields = message.__dict__
    for change in (
        {"folder": "../../.."},
        {"folder": "tmp"},
        {"number": -1},
        {"number": 10000},
        {"mailbox": forged_mailbox("default", "..")},
    ):
        forged = SpoolMessage(**{**fields, **change})
        with pytest.raises(InvalidInput):
            spool.open_audio(forged, "wav")
    for fmt in ("../msg0000.wav", "txt", "", "w/v"):
        with pytest.raises(InvalidInput):
            spool.open_audio(message, fmt)


def test_symlinked_recording_is_never_followed(root: Path, tmp_path: Path) -> None:
    secret = tmp_path / "outside.wav"
    secret.write_bytes(b"not yours")
    folder = root / "default/1001/INBOX"
    (folder / "msg0000.wav").unlink()
    (folder / "msg0000.wav").symlink_to(secret)
    spool = FileSpool(root, clock=later)
    scan = spool.scan(BOX_1001)
    assert scan.messages == ()
    assert "symbolic link refused" in {p.reason for p in scan.problems}
    message = SpoolMessage(
        BOX_1001, "INBOX", 0, str(folder / "msg0000.txt"), parse_envelope((folder / "msg0000.txt").read_bytes()), ()
    )
    with pytest.raises(SpoolPathRefused):
        spool.open_audio(message, "wav")
    with pytest.raises(SpoolPathRefused):
        spool.replace_with_placeholder(message, "wav", hashlib.sha256(b"not yours").hexdigest())
    assert secret.read_bytes() == b"not yours"
    assert (folder / "msg0000.wav").is_symlink()


def test_symlinked_mailbox_context_or_folder_escaping_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    put(outside, "box/INBOX", 0, "msg0000.txt", {"wav": "msg0000.wav"})
    (root / "default" / "3001").symlink_to(outside / "box")
    (root / "evil").symlink_to(outside)
    spool = FileSpool(root, clock=later)
    assert MailboxRef("default", "3001") not in spool.mailboxes()
    assert all(ref.context != "evil" for ref in spool.mailboxes())
    linked = spool.scan(MailboxRef("default", "3001"))
    assert linked.messages == ()
    assert [p.path for p in linked.problems] == [str(root / "default/3001")]
    assert spool.scan(MailboxRef("evil", "box")).messages == ()
    assert spool.find(MailboxRef("default", "3001"), MSG_Q1) is None

    shutil.rmtree(root / "default/1001/Old")
    (root / "default/1001/Old").symlink_to(outside / "box/INBOX")
    scan = spool.scan(BOX_1001)
    assert [m.folder for m in scan.messages] == ["INBOX"]
    assert [p.path for p in scan.problems] == [str(root / "default/1001/Old")]


def test_planted_fifo_is_refused_without_hanging(root: Path) -> None:
    spool = FileSpool(root, clock=later)
    message = spool.find(BOX_1001, MSG_Q1)
    assert message is not None
    folder = root / "default/1001/INBOX"
    (folder / "msg0000.wav").unlink()
    os.mkfifo(folder / "msg0000.wav")
    with pytest.raises(SpoolPathRefused):
        spool.open_audio(message, "wav")
    assert "not a regular file" in {p.reason for p in spool.scan(BOX_1001).problems}
