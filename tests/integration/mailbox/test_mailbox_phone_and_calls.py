"""Play on my phone (AMI Originate of the owner's device + Playback of a short-lived staging file) and
the signed-in user's call history from the stand-in's real Cdr events."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.mailbox.harness import ADMIN, ALICE, BOB, MailboxSite
from tests.integration.pipeline.harness import make_wav, wait_for
from voicemail.ami.mailbox_control import AmiMailboxControl, CallOutcome
from voicemail.audit.cdr import CdrStore
from voicemail.domain.errors import NotFound
from voicemail.services.phone_playback import PhonePlayback


class Inspecting:
    """The real AMI control, plus a look at the staging file the moment Asterisk is asked to play it."""

    def __init__(self, real: AmiMailboxControl) -> None:
        self.real = real
        self.seen: list[tuple[str, int, int, bytes]] = []
        self.outcomes: list[CallOutcome] = []
        self.references: list[str] = []  # the Originates' ActionIDs

    def originate_playback(self, channel: str, sound: str, caller_id: str, *, ring_timeout: float,
                           max_call: float, on_end: Callable[[CallOutcome], None],
                           on_response: Callable[[CallOutcome], None] | None = None) -> str:
        [path] = Path(sound).parent.glob(Path(sound).name + ".*")
        self.seen.append((sound, stat.S_IMODE(path.stat().st_mode), stat.S_IMODE(path.parent.stat().st_mode),
                          path.read_bytes()))

        def ended(outcome: CallOutcome) -> None:
            on_end(outcome)
            self.outcomes.append(outcome)

        reference = self.real.originate_playback(channel, sound, caller_id, ring_timeout=ring_timeout,
                                                 max_call=max_call, on_end=ended, on_response=on_response)
        self.references.append(reference)
        return reference


def phone(box: MailboxSite, device: str) -> tuple[PhonePlayback, Inspecting]:
    services = box.services
    assert isinstance(services._phone, PhonePlayback) and isinstance(services._control, AmiMailboxControl)
    spy = Inspecting(services._control)
    real = services._phone
    services._phone = PhonePlayback(real.staging_dir, box.container.keyring, box.container.vault.path_for, spy,
                                    lambda _box: device, ring_timeout=5)
    return services._phone, spy


def test_play_on_phone_rings_the_owners_device_and_removes_the_staging_file(box: MailboxSite) -> None:
    box.start_watching()
    audio = make_wav(1.0, 21)
    mid = box.leave("1001@default", audio)
    playback, spy = phone(box, "Local/play@vmlab/n")
    call = box.mailboxes.play_on_phone(ALICE, mid)
    [reference] = spy.references
    [(sound, mode, dir_mode, content)] = spy.seen
    assert (mode, dir_mode, content) == (0o640, 0o2750, audio)  # group-readable only there, only for the call
    wait_for(lambda: bool(spy.outcomes), 20, "the call to end")
    assert spy.outcomes[0].result == "answered"
    # the test's own AMI session receives the event independently of the service's: wait for it there too
    wait_for(lambda: bool(box.seen("OriginateResponse", ActionID=reference)), 10, "the event on the watcher")
    [response] = box.seen("OriginateResponse", ActionID=reference)
    assert (response.get("Response"), response.get("Application"), response.get("Data")) == (
        "Success", "Playback", sound)
    assert list(playback.staging_dir.iterdir()) == []
    assert box.mailboxes.phone_call(ALICE, call).message == "The message was played on your phone."
    plays = [(a, act) for a, act, _o, _d in box.audit(mid) if act == "audio.play_phone"]
    assert plays == [("alice", "audio.play_phone")]


def test_a_failed_call_removes_the_staging_file_too(box: MailboxSite) -> None:
    box.start_watching()
    mid = box.leave("1001@default", make_wav(1.0, 22))
    playback, spy = phone(box, "Local/nosuch@nowhere/n")  # no such extension: OriginateResponse Failure
    box.mailboxes.play_on_phone(ALICE, mid)
    [reference] = spy.references
    wait_for(lambda: bool(spy.outcomes), 20, "the failure")
    assert spy.outcomes[0].result == "failed"
    wait_for(lambda: bool(box.seen("OriginateResponse", ActionID=reference)), 10, "the event on the watcher")
    assert box.seen("OriginateResponse", ActionID=reference)[0].get("Response") == "Failure"
    assert list(playback.staging_dir.iterdir()) == []


def test_only_the_owner_may_play_on_a_phone(box: MailboxSite) -> None:
    mid = box.leave("1001@default", make_wav(1.0, 23))
    for viewer in (ADMIN, BOB):
        with pytest.raises(NotFound):
            box.mailboxes.play_on_phone(viewer, mid)


def test_sweep_removes_only_old_leftovers(box: MailboxSite) -> None:
    assert isinstance(box.services._phone, PhonePlayback)
    staging = box.services._phone.staging_dir
    staging.mkdir(mode=0o700, exist_ok=True)
    old, new, other = staging / "vmplay-dead.wav", staging / "vmplay-live.wav", staging / "keep.txt"
    for path in (old, new, other):
        path.write_bytes(b"x")
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert box.services._phone.sweep() == 1
    assert sorted(p.name for p in staging.iterdir()) == ["keep.txt", "vmplay-live.wav"]


def test_calls_presenting_a_users_number_are_not_listed_as_placed_by_them(box: MailboxSite) -> None:
    box.start_watching()
    box.leave("2001@default", make_wav(1.0, 24), callerid='"Alice Internal" <1001>')
    box.leave("1001@default", make_wav(1.0, 25), callerid='"Bob Internal" <1002>')
    wait_for(lambda: len(box.seen("Cdr")) >= 4, 10, "Cdr events")
    cdrs = CdrStore(box.container.engine)
    for event in box.seen("Cdr"):
        cdrs.ingest(event)
    # the stand-in's Cdr events, as Asterisk's (q1): Source = the number the call presented, Channel =
    # the Local channel of the Originate, Destination = the lab extension "play": the calls presented
    # 1001 and 1002 but were made on no phone of theirs, so neither has placed them
    assert {(e.get("Channel") or "").split("/")[0] for e in box.seen("Cdr")} == {"Local"}
    assert box.mailboxes.call_history(ALICE, 0, 50).total == 0
    assert box.mailboxes.call_history(BOB, 0, 50).total == 0
    assert box.mailboxes.call_history(ADMIN, 0, 50).total == 0  # no numbers of their own: nothing
