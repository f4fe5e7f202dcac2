"""Each Originate outcome of capture q11, reached through the stand-in's phonesim phones, is told to the
user in plain words, and the staging file is gone whatever the outcome."""

from __future__ import annotations

import pytest

from tests.integration.mailbox.harness import ALICE, MailboxSite
from tests.integration.pipeline.harness import make_wav, wait_for
from voicemail.services.phone_playback import PhonePlayback

CASES = [  # phonesim extension (q11 case), the user's final words, what the call went through
    ("answer", "The message was played on your phone.", {"ringing", "answered", "finished"}),  # (a) Reason 4
    ("noanswer", "Your phone did not answer.", {"ringing", "no_answer"}),  # (b) Reason 3
    ("ringnoanswer", "Your phone did not answer.", {"ringing", "no_answer"}),  # (b2) Reason 3
    ("busy", "Your phone is busy.", {"ringing", "busy"}),  # (c) Reason 5
    ("congestion", "The phone system could not reach your phone (network busy). Try again later.",
     {"ringing", "congestion"}),  # (d) Reason 8
    ("nosuchphone", "Your phone could not be called. Ask your administrator to check its set-up.",
     {"ringing", "unreachable"}),  # (e) Reason 0
]


@pytest.mark.parametrize(("phone", "words", "states"), CASES, ids=[c[0] for c in CASES])
def test_each_originate_outcome_is_told_plainly_and_leaves_no_staging_file(
        box: MailboxSite, phone: str, words: str, states: set[str]) -> None:
    services = box.services
    real = services._phone
    assert isinstance(real, PhonePlayback)
    playback = PhonePlayback(real.staging_dir, box.container.keyring, box.container.vault.path_for,
                             services._control, lambda _box: f"Local/{phone}@phonesim/n",  # type: ignore[arg-type]
                             ring_timeout=3)
    services._phone = playback
    mid = box.leave("1001@default", make_wav(1.0, 31))
    call = box.mailboxes.play_on_phone(ALICE, mid)
    seen = {box.mailboxes.phone_call(ALICE, call).state}
    assert seen == {"ringing"} or phone == "answer" or seen <= states

    def final() -> bool:
        status = box.mailboxes.phone_call(ALICE, call)
        seen.add(status.state)
        return status.final and not list(playback.staging_dir.iterdir())

    wait_for(final, 40, f"the {phone} outcome")
    status = box.mailboxes.phone_call(ALICE, call)
    assert status.message == words and status.final
    assert seen <= states
    assert list(playback.staging_dir.iterdir()) == []
