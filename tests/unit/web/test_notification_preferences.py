"""The notification address and time zone an owner sets on the web settings page are what the notifier uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from mailer.outbox import OutboxMailer
from mailer.settings import MailSettings
from tests.unit.core.test_custody import BOX, World
from voicemail.domain.models import MailboxRef
from voicemail.services.notify import Notifier, NotifySettings
from voicemail.web.accounts_store import AccountStore
from voicemail.web.preferences import AccountPreferences


def _notify_first(world: World, preferences: AccountPreferences) -> str:
    notifier = Notifier(world.store, OutboxMailer(world.root / "outbox"), MailSettings(sender="vm@example.test"),
                        NotifySettings("https://voicemail.example.test"), preferences=preferences)
    world.discovery.reconcile()
    mid = world.enqueued[0]
    world.custody.seal(mid)
    notifier.send(world.custody.strip(mid))
    [eml] = (world.root / "outbox").glob("*.eml")
    return eml.read_text()


@pytest.fixture
def accounts(tmp_path: Path) -> tuple[World, AccountStore, AccountPreferences]:
    world = World(tmp_path)
    engine = create_engine(f"sqlite:///{tmp_path / 'vm.db'}")
    return world, AccountStore(engine), AccountPreferences(engine)


def test_owner_chosen_address_and_time_zone_are_used(accounts: tuple[World, AccountStore, AccountPreferences]) -> None:
    world, store, prefs = accounts
    other = store.add("dave", roles=["owner"], mailboxes=[MailboxRef("default", "20011")])
    store.update_settings(other.id, notify_address="dave@example.test", timezone="Asia/Tokyo", language="en")
    carol = store.add("carol", roles=["owner"], mailboxes=[MailboxRef("default", "1001"), BOX])
    store.update_settings(carol.id, notify_address="carol.phone@example.test", timezone="America/Chicago",
                          language="en")
    eml = _notify_first(world, prefs)
    assert re.search(r"^To: (.*<)?carol\.phone@example\.test>?\r?$", eml, re.M)
    assert "carol@example.test" not in eml and "dave@" not in eml
    assert re.search(r"\d\d:\d\d C[SD]T \(America/Chicago\)", eml)  # the time in the owner's zone


def test_without_a_choice_asterisks_address_is_used(accounts: tuple[World, AccountStore, AccountPreferences]) -> None:
    world, store, prefs = accounts
    store.add("carol", roles=["owner"], mailboxes=[BOX])
    assert prefs.for_mailbox(BOX) == ("", "")
    assert "carol@example.test" in _notify_first(world, prefs)


def test_a_disabled_accounts_choice_is_ignored(accounts: tuple[World, AccountStore, AccountPreferences]) -> None:
    world, store, prefs = accounts
    carol = store.add("carol", roles=["owner"], mailboxes=[BOX])
    store.update_settings(carol.id, notify_address="old.phone@example.test", timezone="UTC", language="en")
    store.set_disabled(carol.id, True)
    assert prefs.for_mailbox(BOX) == ("", "")
    eml = _notify_first(world, prefs)
    assert "old.phone@example.test" not in eml and "carol@example.test" in eml
