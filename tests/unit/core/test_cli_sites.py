"""What the administration commands print of a mailbox when several sites are configured: a mailbox of
another site than the default one is named with its site (1001@default@branch), as `voicemail messages
list` and web accounts name it; a mailbox of the default site, and every mailbox with one site, as before."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

from click.testing import CliRunner

from tests.unit.core.test_cli_operator import sealed_world
from voicemail.audit.store import AuditLog
from voicemail.cli import main
from voicemail.db.engine import make_engine
from voicemail.db.models import MessageRow, NotificationRow
from voicemail.db.repository import SqlMessageStore

OLD = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
OUTSIDE = "+12025550123"  # an outside caller's number on every row: never printed
TWO_SITES = {"VOICEMAIL_SITES": "branch"}


def add_message(store: SqlMessageStore, site: str, state: str = "stripped", mailbox: str = "1001") -> str:
    message_id = str(uuid.uuid4())
    with store._sessions.begin() as s:
        s.add(MessageRow(id=message_id, site=site, context="default", mailbox=mailbox,
                         msg_id=f"1795978545-{uuid.uuid4().hex[:8]}", state=state, folder="INBOX",
                         origtime=1795978545, duration=3, urgent=False, callerid_raw=OUTSIDE,
                         caller_kind="external", envelope=b"", attempts=1, last_error="", discovered_at=OLD,
                         updated_at=OLD))
    return message_id


def add_notification(store: SqlMessageStore, site: str) -> str:
    message_id, notification_id = add_message(store, site), str(uuid.uuid4())
    with store._sessions.begin() as s:
        s.add(NotificationRow(id=notification_id, message_id=message_id, state="failed", attempts=1,
                              last_error="PermanentError: refused", recipient="", created_at=OLD, updated_at=OLD))
    return notification_id


def line_of(output: str, ref: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith(ref)]
    return line


def run(db_url: str, *args: str, **env: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"VOICEMAIL_DATABASE_URL": db_url, **env})
    assert result.exit_code == 0, result.output
    assert OUTSIDE not in result.output and OUTSIDE[2:] not in result.output
    return result.output


def test_notifications_list_names_the_site_of_a_mailbox_of_another_site(store: SqlMessageStore,
                                                                         db_url: str) -> None:
    here, there = add_notification(store, "default"), add_notification(store, "branch")
    listed = run(db_url, "notifications", "list", **TWO_SITES)
    assert " 1001@default@branch " in line_of(listed, there)
    assert " 1001@default " in line_of(listed, here) and "@branch" not in line_of(listed, here)


def test_notifications_list_with_one_site_is_as_before(store: SqlMessageStore, db_url: str) -> None:
    here = add_notification(store, "default")
    assert line_of(run(db_url, "notifications", "list"), here).startswith(
        f"{here}  failed             1  1001@default             -  ")


def test_messages_pending_names_the_site_of_a_mailbox_of_another_site(store: SqlMessageStore,
                                                                       db_url: str) -> None:
    here, there = add_message(store, "default", "discovered"), add_message(store, "branch", "discovered")
    listed = run(db_url, "messages", "pending", **TWO_SITES)
    assert line_of(listed, there).split()[1] == "1001@default@branch"
    assert line_of(listed, here).split()[1] == "1001@default"


def test_messages_pending_with_one_site_is_as_before(store: SqlMessageStore, db_url: str) -> None:
    here = add_message(store, "default", "discovered")
    assert line_of(run(db_url, "messages", "pending"), here) == (
        f"{here}  1001@default         discovered        1  in progress")


def test_a_mailbox_named_by_its_site_as_the_default_site_s_name_lists_the_default_site(
        store: SqlMessageStore, db_url: str) -> None:
    """site_name other than "default": its mailboxes are named without a site, the others with theirs."""
    here, there = add_message(store, "hq", "discovered"), add_message(store, "branch", "discovered")
    listed = run(db_url, "messages", "pending", VOICEMAIL_SITE_NAME="hq", **TWO_SITES)
    assert line_of(listed, here).split()[1] == "1001@default"
    assert line_of(listed, there).split()[1] == "1001@default@branch"


def test_a_break_glass_export_not_found_names_the_mailbox_with_its_site(tmp_path: Path) -> None:
    _world, env = sealed_world(tmp_path)
    out = tmp_path / "x.wav"
    result = CliRunner().invoke(main, ["messages", "export", "2001@default@branch", "1795978545-0000ffff", "-o",
                                       str(out), "--reason", "case 9"], env={**env, **TWO_SITES})
    assert result.exit_code == 1
    assert "no sealed message 1795978545-0000ffff in mailbox 2001@default@branch" in result.output
    assert not out.exists()
    [event] = [e for e in AuditLog(make_engine(env["VOICEMAIL_DATABASE_URL"])).events()
               if e.action == "message.export"]
    assert (event.outcome, json.loads(event.details)["mailbox"]) == ("error", "2001@default@branch")
