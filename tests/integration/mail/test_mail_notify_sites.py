"""With several sites the notification names the mailbox's site in its text and HTML ("in mailbox
1001@default on site branch"), the default site's mailboxes included; the subject, the headers and the
caller rules stay as they are. With one site nothing is said about sites. Outbox sender, .eml read back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailer import MailSettings
from mailer.registry import build_mailer
from tests.unit.mailer.mailer_testdata import parse
from voicemail.db.engine import make_store_sessions
from voicemail.db.migrate import upgrade
from voicemail.db.models import MessageRow, NotificationRow, utcnow
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import MailboxOwner
from voicemail.services.notify import Notifier, NotifySettings

BOX = MailboxRef("default", "1001")
OUTSIDE_NUMBER = "+4915551234567"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlMessageStore]:
    engine, reads, sessions, read_sessions = make_store_sessions(f"sqlite:///{tmp_path / 'vm.db'}")
    upgrade(engine)
    store = SqlMessageStore(sessions, read_sessions, default_site="main")
    for site in ("", "branch"):
        store.upsert_mailbox(MailboxOwner(BOX.on_site(site), "Carol Owner", f"carol-{site or 'main'}@example.test",
                                          "Europe/Berlin"))
    yield store
    engine.dispose()
    reads.dispose()


def _message(store: SqlMessageStore, site: str) -> str:
    """A stripped message from an outside caller on ``site``, with its pending notification; its id."""
    message_id, notification_id = str(uuid.uuid4()), str(uuid.uuid4())
    with store._sessions.begin() as s:
        s.add(MessageRow(id=message_id, site=site, context=BOX.context, mailbox=BOX.mailbox,
                         msg_id=f"1795978545-{uuid.uuid4().hex[:8]}", state="stripped", folder="INBOX",
                         origtime=1795978545, duration=12, urgent=False, caller_context="from-pstn",
                         callerid_raw=f'"Mallory" <{OUTSIDE_NUMBER}>', caller_kind="external",
                         caller_name="Mallory", caller_number=OUTSIDE_NUMBER, envelope=b"", attempts=0,
                         last_error="", discovered_at=utcnow(), updated_at=utcnow()))
        s.flush()
        s.add(NotificationRow(id=notification_id, message_id=message_id, state="pending", attempts=0,
                              last_error="", recipient="", created_at=utcnow(), updated_at=utcnow()))
    return notification_id


def _sent(tmp_path: Path, store: SqlMessageStore, notification_id: str, default_site: str | None,
          phone_sites: frozenset[str] | None = None) -> EmailMessage:
    outbox = tmp_path / f"outbox-{notification_id}"
    notifier = Notifier(store, build_mailer("outbox", directory=outbox), MailSettings(sender="vm@example.org"),
                        NotifySettings("https://vm.example.org", default_site=default_site, phone_sites=phone_sites))
    assert notifier.send(notification_id) == "sent"
    [eml] = list(outbox.glob("*.eml"))
    return parse(eml.read_bytes())


def _text_and_html(mail: EmailMessage) -> tuple[str, str]:
    plain, markup = (part.get_content() for part in mail.iter_parts())
    return str(plain), str(markup)


def test_several_sites_name_the_mailboxs_site_in_text_and_html(tmp_path: Path, store: SqlMessageStore) -> None:
    branch = _sent(tmp_path, store, _message(store, "branch"), default_site="main")
    text, markup = _text_and_html(branch)
    assert "voice message in mailbox 1001@default on site branch." in text
    assert "<strong>1001@default</strong> on site branch." in markup
    assert branch["To"] == "carol-branch@example.test"
    main = _sent(tmp_path, store, _message(store, "main"), default_site="main")
    assert "voice message in mailbox 1001@default on site main." in _text_and_html(main)[0]
    for mail in (branch, main):
        assert "site" not in str(mail["Subject"]).lower()  # the subject stays as configured
        assert OUTSIDE_NUMBER not in mail.as_string() and "Mallory" not in mail.as_string()


def test_one_site_says_nothing_about_sites(tmp_path: Path, store: SqlMessageStore) -> None:
    mail = _sent(tmp_path, store, _message(store, "main"), default_site=None)
    text, markup = _text_and_html(mail)
    assert "voice message in mailbox 1001@default." in text and "<strong>1001@default</strong>." in markup
    assert "on site" not in text and "on site" not in markup


def test_play_on_phone_is_mentioned_only_for_sites_whose_phones_can_be_rung(tmp_path: Path,
                                                                             store: SqlMessageStore) -> None:
    hint = "have it played on your phone"
    sites = frozenset({"branch"})  # only the branch has a device template
    branch = _sent(tmp_path, store, _message(store, "branch"), default_site="main", phone_sites=sites)
    main = _sent(tmp_path, store, _message(store, "main"), default_site="main", phone_sites=sites)
    assert hint in _text_and_html(branch)[0]
    assert hint not in _text_and_html(main)[0]
