"""The voicemail and mailbox actions answer byte for byte like Asterisk and change the spool like
app_voicemail does (captures q1, q2, q2b, q2d, q8)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.integration.standin.standin_client import Ami, capture_blocks, connected, events, reply, running
from voicemail.spool.envelope import parse_envelope
from voicemail.spool.placeholder import placeholder_bytes

FOLDERS = ["Cust1", "Cust2", "Cust3", "Cust4", "Cust5", "Deleted", "Family", "Friends", "INBOX", "Old", "Urgent",
           "Work"]


def _ids(inbox: Path) -> list[str]:
    return [parse_envelope(p.read_bytes()).msg_id for p in sorted(inbox.glob("msg*.txt"))]


def _mw(box: str, new: int, old: int) -> bytes:
    return (f"Event: MessageWaiting\r\nPrivilege: call,all\r\nSystemName: astlab\r\nMailbox: {box}\r\n"
            f"Waiting: {1 if new else 0}\r\nNew: {new}\r\nOld: {old}\r\n\r\n").encode()


def test_move_remove_forward_answer_with_the_bare_lf_and_renumber_at_once(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    inbox = spool / "default" / "1002" / "INBOX"
    with running(spool) as standin, connected(standin) as ami:
        for _ in range(3):
            standin.leave_message("1002", "+12025550123")
        standin.leave_message("2001")
        ami.sync()
        first, second, third = _ids(inbox)

        moved = ami.action("VoicemailMove", "lab-003", Context="default", Mailbox="1002", Folder="INBOX",
                           ID=first, ToFolder="Old") + ami.sync()
        assert moved[0].raw == b"Response: Success\r\nActionID: lab-003\r\nMessage: Message move successful\n\r\n\r\n"
        assert moved[1].raw == _mw("1002@default", 2, 1)
        assert _ids(inbox) == [second, third] and sorted(p.name for p in inbox.iterdir())[0] == "msg0000.txt"
        assert _ids(spool / "default" / "1002" / "Old") == [first]

        ami.send_raw(f"Action: VoicemailRemove\r\nActionID: lab-004\r\nContext: default\r\nMailbox: 1002\r\n"
                     f"Folder: INBOX\r\nID: {second}\r\nFolder: INBOX\r\n\r\n".encode())
        removed = ami.sync()
        assert removed[0].raw == (b"Response: Success\r\nActionID: lab-004\r\n"
                                  b"Message: Message remove successful\n\r\n\r\n")
        assert removed[1].raw == _mw("1002@default", 1, 1)
        assert _ids(inbox) == [third] and (inbox / "msg0000.wav").is_file() and not (inbox / "msg0001.txt").exists()

        forwarded = ami.action("VoicemailForward", "lab-005", Context="default", Mailbox="1002", Folder="INBOX",
                               ID=third, ToContext="default", ToMailbox="2001", ToFolder="INBOX") + ami.sync()
        assert forwarded[0].raw == (b"Response: Success\r\nActionID: lab-005\r\nMessage: Message forward successful\n"
                                    b"\r\n\r\n")
        assert forwarded[1].raw == _mw("2001@default", 2, 0)
        assert _ids(inbox) == [third]  # a forward keeps the original
        assert _ids(spool / "default" / "2001" / "INBOX")[1] == third

        failed = ami.action("VoicemailRemove", "lab-006", Context="default", Mailbox="1002", Folder="INBOX",
                            ID="does-not-exist") + ami.sync()
        assert [f.raw for f in failed] == [b"Response: Success\r\nActionID: lab-006\r\nMessage: Message remove "
                                           b"failed\n\r\n\r\n"]


def test_the_replies_equal_the_captured_q2b_replies(tmp_path: Path) -> None:
    recorded = {re.search(rb"ActionID: (\S+)", b).group(1).decode(): b  # type: ignore[union-attr]
                for b in capture_blocks("q2b-vm-move-remove-forward") if b.startswith(b"Response:")}
    spool = tmp_path / "voicemail"
    with running(spool) as standin, connected(standin) as ami:
        standin.leave_message("1002")
        standin.leave_message("1002")
        ami.sync()
        ids = _ids(spool / "default" / "1002" / "INBOX")
        got = {
            "lab-003": ami.action("VoicemailMove", "lab-003", Context="default", Mailbox="1002", Folder="INBOX",
                                  ID=ids[0], ToFolder="Old"),
            "lab-004": ami.action("VoicemailRemove", "lab-004", Context="default", Mailbox="1002", Folder="INBOX",
                                  ID=ids[1]),
            "lab-006": ami.action("VoicemailRemove", "lab-006", Context="default", Mailbox="1002", Folder="INBOX",
                                  ID="does-not-exist"),
            "lab-008": ami.action("Logoff", "lab-008"),
        }
    for action_id, frames in got.items():
        assert reply(frames, action_id).raw == recorded[action_id], action_id


def test_q8_stripped_audio_makes_move_duplicate_and_remove_do_nothing_a_placeholder_does_not(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    inbox, old = spool / "default" / "1001" / "INBOX", spool / "default" / "1001" / "Old"

    def move_remove(ami: Ami, msg_id: str) -> tuple[bytes, tuple[str, str], bytes, tuple[str, str]]:
        ami.send_raw(f"Action: VoicemailMove\r\nContext: default\r\nMailbox: 1001\r\nFolder: INBOX\r\nID: {msg_id}\r\n"
                     f"ToFolder: Old\r\n\r\n".encode())
        moved = ami.sync()[0].raw
        after_move = _counts(ami)
        ami.send_raw(f"Action: VoicemailRemove\r\nContext: default\r\nMailbox: 1001\r\nFolder: Old\r\nID: {msg_id}"
                     f"\r\n\r\n".encode())
        removed = ami.sync()[0].raw
        return moved, after_move, removed, _counts(ami)

    with running(spool) as standin, connected(standin, "off") as ami:
        # A. control: the recording is there
        msg_id = standin.leave_message("1001")
        assert move_remove(ami, msg_id or "") == (
            b"Response: Success\r\nMessage: Message move successful\n\r\n\r\n", ("0", "1"),
            b"Response: Success\r\nMessage: Message remove successful\n\r\n\r\n", ("0", "0"))
        assert list(inbox.iterdir()) == [] and list(old.iterdir()) == []
        # B. the recording deleted, the .txt kept
        msg_id = standin.leave_message("1001")
        (inbox / "msg0000.wav").unlink()
        assert _counts(ami) == ("1", "0")
        summary = ami.action("VoicemailBoxSummary", "s", Context="default", Mailbox="1001")
        assert [d.get("ID") for d in events(summary, "VoicemailBoxDetail")] == [msg_id]
        assert move_remove(ami, msg_id or "") == (
            b"Response: Success\r\nMessage: Message move successful\n\r\n\r\n", ("1", "1"),
            b"Response: Success\r\nMessage: Message remove successful\n\r\n\r\n", ("1", "1"))
        assert sorted(p.name for p in inbox.iterdir()) == ["msg0000.txt"]
        assert sorted(p.name for p in old.iterdir()) == ["msg0000.txt"]
        for path in (inbox / "msg0000.txt", old / "msg0000.txt"):
            path.unlink()
        # C. the recording replaced by a tiny valid placeholder
        msg_id = standin.leave_message("1001")
        (inbox / "msg0000.wav").write_bytes(placeholder_bytes("wav"))
        assert move_remove(ami, msg_id or "")[1:] == (
            ("0", "1"), b"Response: Success\r\nMessage: Message remove successful\n\r\n\r\n", ("0", "0"))
        assert list(inbox.iterdir()) == [] and list(old.iterdir()) == []


def _counts(ami: Ami) -> tuple[str, str]:
    frames = ami.action("MailboxCount", "count", Mailbox="1001@default")
    count = reply(frames, "count")
    return count.get("NewMessages") or "", count.get("OldMessages") or ""


def test_box_summary_lists_every_folder_and_renumbers_like_resequencing(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    box = spool / "default" / "1001"
    inbox = box / "INBOX"
    with running(spool) as standin, connected(standin, "off") as ami:
        for _ in range(3):
            standin.leave_message("1001", '"Alice Internal" <1001>')
        for ext in ("txt", "wav"):  # q2: gaps at 0000, 0003, 0004 and a copy at 0005
            (inbox / f"msg0000.{ext}").unlink()
            shutil.copyfile(inbox / f"msg0001.{ext}", inbox / f"msg0005.{ext}")
        before = {p.stem: parse_envelope(p.read_bytes()).msg_id for p in inbox.glob("*.txt")}
        standin.leave_message("1001")
        assert (inbox / "msg0006.txt").is_file()
        before["msg0006"] = parse_envelope((inbox / "msg0006.txt").read_bytes()).msg_id
        frames = ami.action("VoicemailBoxSummary", "sum", Context="default", Mailbox="1001")
    details = events(frames, "VoicemailBoxDetail")
    assert [d.get("ID") for d in details] == [before[k] for k in ("msg0001", "msg0002", "msg0005", "msg0006")]
    assert {d.get("Folder") for d in details} == {"INBOX"}
    assert frames[-1].raw == (b"Event: VoicemailBoxDetailComplete\r\nActionID: sum\r\nEventList: Complete\r\n"
                              b"ListItems: 4\r\n\r\n")
    assert sorted(p.name for p in inbox.glob("*.txt")) == [f"msg000{i}.txt" for i in range(4)]
    assert sorted(p.name for p in box.iterdir() if p.name != "tmp") == FOLDERS


def test_counts_follow_the_disk_and_refresh_reports_only_changes(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    inbox = spool / "default" / "1001" / "INBOX"
    with running(spool) as standin, connected(standin) as ami:
        standin.leave_message("1001")
        standin.leave_message("1001")
        ami.sync()
        for ext in ("txt", "wav"):
            (inbox / f"msg0000.{ext}").unlink()
        assert reply(ami.action("MailboxCount", "c1", Mailbox="1001@default"), "c1").get("NewMessages") == "1"
        assert reply(ami.action("MailboxStatus", "s1", Mailbox="1001@default"), "s1").get("Waiting") == "1"
        assert events(ami.sync(), "MessageWaiting") == []  # an external change raises nothing by itself
        refreshed = ami.action("VoicemailRefresh", "r1", Context="default", Mailbox="1001") + ami.sync()
        assert refreshed[0].raw == b"Response: Success\r\nActionID: r1\r\nMessage: Refresh sent\r\n\r\n"
        assert refreshed[1].raw == _mw("1001@default", 1, 0)
        assert len(refreshed) == 2
        again = ami.action("VoicemailRefresh", "r2") + ami.sync()
        assert [f.get("Event") for f in again] == [None]  # nothing changed since: no event
        for p in list(inbox.iterdir()):
            p.unlink()
        emptied = ami.action("VoicemailRefresh", "r4", Context="default") + ami.sync()
        assert [f.raw for f in emptied[1:]] == [
            _mw("1001@default", 0, 0),
            b"Event: DeviceStateChange\r\nPrivilege: call,all\r\nSystemName: astlab\r\nDevice: MWI:1001@default\r\n"
            b"State: NOT_INUSE\r\n\r\n"]


def test_after_a_restart_refresh_has_no_cached_state_to_compare_with(tmp_path: Path) -> None:
    spool = tmp_path / "voicemail"
    with running(spool) as first:
        for _ in range(3):
            first.leave_message("2001")
    with running(spool) as standin, connected(standin) as ami:
        frames = ami.action("VoicemailRefresh", "r1")
        frames += ami.action("VoicemailRefresh", "r2", Context="default", Mailbox="2001")
        frames += ami.action("VoicemailRefresh", "r3", Context="default")
        frames += ami.sync()
        count = reply(ami.action("MailboxCount", "c", Mailbox="2001@default"), "c")
    assert [f.get("Message") for f in frames] == ["Refresh sent"] * 3
    assert (count.get("UrgMessages"), count.get("NewMessages"), count.get("OldMessages")) == ("0", "3", "0")


def test_user_and_mailbox_replies_equal_the_q1_capture(tmp_path: Path) -> None:
    recorded = capture_blocks("q1-voicemail-session")
    by_id: dict[str, list[bytes]] = {}
    for block in recorded:
        m = re.search(rb"ActionID: (lab-\d+)", block)
        if m:
            by_id.setdefault(m.group(1).decode(), []).append(block)
    with running(tmp_path / "voicemail") as standin, connected(standin) as ami:
        got = {"lab-002": ami.action("VoicemailUsersList", "lab-002")}
        standin.leave_message("1001", '"Alice Internal" <1001>')
        ami.sync()
        got["lab-004"] = ami.action("MWIGet", "lab-004", Mailbox="1001@default")
        got["lab-005"] = ami.action("VoicemailRefresh", "lab-005", Context="default", Mailbox="1001")
        got["lab-006"] = ami.action("VoicemailUserStatus", "lab-006", Context="default", Mailbox="1001")
        got["lab-008"] = ami.action("MailboxStatus", "lab-008", Mailbox="1001@default")
        got["lab-009"] = ami.action("MailboxCount", "lab-009", Mailbox="1001@default")
        got["lab-010"] = ami.action("Command", "lab-010", Command="voicemail show users")
        got["lab-011"] = ami.action("ListCommands", "lab-011")
        got["lab-012"] = ami.action("Logoff", "lab-012")
        assert ami.wait_closed()
    for action_id, frames in got.items():
        assert [f.raw for f in frames if f.get("ActionID") == action_id] == by_id[action_id], action_id
