""""Play on my phone" and the telephone menu per site: a site may name its own device template and staging
folder (else the global ones), a process serving a site sees them as its own, and each message's call is
placed by its own site's player, or refused in plain words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from voicemail.config import load_settings, site_phone
from voicemail.domain.errors import ConfigError, FeatureUnavailable
from voicemail.domain.models import Caller, MailboxRef, WrappedKey
from voicemail.domain.records import MessageRecord
from voicemail.services.phone_calls import CallBook
from voicemail.services.site_phones import SitePhones

CONFIG = """
site_name = "hq"
phone_device_template = "PJSIP/{mailbox}"
phone_staging_dir = "/run/vm-stage"
[[sites]]
name = "branch"
ami_host = "127.0.0.1"
phone_device_template = "SIP/branch-{mailbox}"
phone_staging_dir = "/mnt/branch/stage"
[[sites]]
name = "annex"
ami_host = "127.0.0.1"
"""


def config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "voicemail.toml"
    path.write_text(text)
    return path


def test_a_site_s_own_phone_settings_else_the_global_ones(tmp_path: Path) -> None:
    hq = load_settings(config(tmp_path), environ={"VOICEMAIL_SITE_ANNEX_PHONE_DEVICE_TEMPLATE": "IAX2/{mailbox}"})
    assert site_phone(hq, "hq") == ("PJSIP/{mailbox}", "/run/vm-stage")
    assert site_phone(hq, "branch") == ("SIP/branch-{mailbox}", "/mnt/branch/stage")
    assert site_phone(hq, "annex") == ("IAX2/{mailbox}", "/run/vm-stage")


def test_a_process_serving_a_site_sees_its_phone_settings_and_keeps_the_others(tmp_path: Path) -> None:
    branch = load_settings(config(tmp_path), environ={}, overrides={"site": "branch"})
    assert (branch.phone_device_template, branch.phone_staging_dir) == ("SIP/branch-{mailbox}", "/mnt/branch/stage")
    assert site_phone(branch, "branch") == ("SIP/branch-{mailbox}", "/mnt/branch/stage")
    assert site_phone(branch, "hq") == ("PJSIP/{mailbox}", "/run/vm-stage")  # the global ones, kept for hq
    assert site_phone(branch, "annex") == ("PJSIP/{mailbox}", "/run/vm-stage")


@pytest.mark.parametrize(("field", "value", "words"), [
    ("phone_device_template", "branch-{mailbox}", "TECH/resource"),
    ("phone_staging_dir", "stage", "absolute path"),
    ("phone_staging_dir", "/srv/my stage", "without blanks"),
])
def test_unusable_site_phone_settings_are_refused(tmp_path: Path, field: str, value: str, words: str) -> None:
    text = f'[[sites]]\nname = "branch"\nami_host = "127.0.0.1"\n{field} = "{value}"\n'
    with pytest.raises(ConfigError, match=words):
        load_settings(config(tmp_path, text), environ={})


class Player:
    def __init__(self, calls: CallBook) -> None:
        self.calls = calls
        self.played: list[str] = []

    def play(self, record: MessageRecord, caller_id: str = "") -> str:
        self.played.append(record.id)
        return self.calls.start(record.mailbox, record.id)

    def sweep(self) -> int:
        return 0


def record(message_id: str, site: str) -> MessageRecord:
    return MessageRecord(id=message_id, mailbox=MailboxRef("default", "1001", site), msg_id="1-0001",
                         state="stripped", folder="INBOX", origtime=1, duration=1, urgent=False,
                         caller=Caller.external(), wrapped_key=WrappedKey("k", b"x"), recordings=())


def test_each_message_is_played_by_its_own_site_and_the_others_are_refused_in_words() -> None:
    calls = CallBook()
    hq, branch = Player(calls), Player(calls)
    players: dict[str, Any] = {"hq": hq, "branch": branch}
    phones = SitePhones(players, {"annex": "no AMI connection is configured for site 'annex'"}, "hq", calls)
    on_branch = phones.play(record("m-branch", "branch"))
    phones.play(record("m-hq", ""))
    assert (hq.played, branch.played) == (["m-hq"], ["m-branch"])
    status = phones.status(on_branch)
    assert status is not None and status.message_id == "m-branch" and status.state == "ringing"
    with pytest.raises(FeatureUnavailable, match="no AMI connection is configured for site 'annex'"):
        phones.play(record("m-annex", "annex"))
    with pytest.raises(FeatureUnavailable, match="site 'elsewhere'"):
        phones.play(record("m-x", "elsewhere"))
