"""Typed helpers over app_voicemail's AMI actions, shaped by what Asterisk 22 really answers
(``asterisk-captures``: q1 users list / box summary / counts, q2b + q8 move and remove).

Move and Remove prove nothing by their reply: both say ``Response: Success`` even when they fail
(``Message: Message remove failed\\n``), and with the audio missing a "successful" Move duplicates the
message while a "successful" Remove removes nothing (q8). So both helpers return what the reply
*claims*, and ``confirm=True`` re-reads the mailbox (VoicemailBoxSummary) and raises AmiActionError
unless the msg_id really is where it should be.

Inputs are checked before anything is sent: context / mailbox names, folder names and msg_ids must
look like what app_voicemail uses (``voicemail.domain.models``), else InvalidInput.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from voicemail.ami.client import AmiActionError, AmiResponse
from voicemail.ami.parser import AmiMessage
from voicemail.domain.errors import InvalidInput
from voicemail.domain.models import FOLDERS, MSG_ID, MailboxRef, check_name


class ActionRunner(Protocol):
    """What the helpers need: ``AmiClient.action``."""

    async def action(self, name: str, headers: Mapping[str, str] | Iterable[tuple[str, str]] = (), *,
                     timeout: float | None = None) -> AmiResponse: ...


@dataclass(frozen=True)
class VoicemailUser:
    context: str
    mailbox: str
    fullname: str
    email: str | None  # None when Asterisk says "(null)" (no address configured)
    new: int
    old: int
    max_messages: int | None = None  # maxmsg: how many messages one folder may hold (MaxMessageCount)


@dataclass(frozen=True)
class BoxItem:
    """One message as VoicemailBoxSummary lists it. ``callerid`` is caller-controlled: hostile input."""

    folder: str
    callerid: str
    date: str  # as Asterisk prints it, e.g. "Sun Nov 29 07:12:10 PM UTC 2026"
    duration: int | None  # seconds; None when not a number
    flag: str  # "" or "Urgent"
    msg_id: str


@dataclass(frozen=True)
class Counts:
    urgent: int
    new: int
    old: int


@dataclass(frozen=True)
class MessageWaiting:
    mailbox: str  # "1001@default"
    waiting: bool
    new: int | None  # a full recount (new + urgent); None when absent or not a number
    old: int | None


def _int(msg: AmiMessage, name: str, action: str) -> int:
    value = (msg.get(name) or "").strip()
    if not _is_ascii_number(value):
        raise AmiActionError(f"{action}: reply has no numeric {name}", msg)
    return int(value)


def _maybe_int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if _is_ascii_number(value) else None


def _is_ascii_number(value: str) -> bool:
    """Digits 0-9 only: ``str.isdigit`` also accepts "²" and other digits ``int`` refuses."""
    return value.isascii() and value.isdigit()


def _folder(name: str) -> str:
    if name not in FOLDERS:
        raise InvalidInput(f"unknown voicemail folder {name[:20]!r}")
    return name


def _msg_id(value: str) -> str:
    if not MSG_ID.match(value):
        raise InvalidInput(f"not an Asterisk msg_id: {value[:40]!r}")
    return value


def _mailbox_ref(value: str | MailboxRef) -> MailboxRef:
    if isinstance(value, MailboxRef):
        return value
    if "@" not in value:
        raise InvalidInput("mailbox must be written mailbox@context")
    return MailboxRef.parse(value)  # checks both names


async def voicemail_users_list(client: ActionRunner) -> list[VoicemailUser]:
    reply = await client.action("VoicemailUsersList")
    users = []
    for item in reply.items:
        if item.event != "VoicemailUserEntry":
            continue
        email = (item.get("Email") or "").strip()
        users.append(VoicemailUser(
            context=item.get("VMContext") or "",
            mailbox=item.get("VoiceMailbox") or "",
            fullname=item.get("Fullname") or "",
            email=None if email in ("", "(null)") else email,
            new=_int(item, "NewMessageCount", "VoicemailUsersList"),
            old=_int(item, "OldMessageCount", "VoicemailUsersList"),
            max_messages=_maybe_int(item.get("MaxMessageCount")),
        ))
    return users


async def voicemail_box_summary(client: ActionRunner, context: str, mailbox: str) -> list[BoxItem]:
    """Every message in every folder. Note: Asterisk renumbers the INBOX (msgNNNN) while answering."""
    reply = await client.action("VoicemailBoxSummary", [("Context", check_name(context, "context")),
                                                        ("Mailbox", check_name(mailbox, "mailbox"))])
    return [BoxItem(folder=item.get("Folder") or "", callerid=item.get("CallerID") or "",
                    date=item.get("Date") or "", duration=_maybe_int(item.get("Duration")),
                    flag=(item.get("Flag") or "").strip(), msg_id=(item.get("ID") or "").strip())
            for item in reply.items if item.event == "VoicemailBoxDetail"]


async def mailbox_count(client: ActionRunner, mailbox_at_context: str | MailboxRef) -> Counts:
    ref = _mailbox_ref(mailbox_at_context)
    reply = await client.action("MailboxCount", [("Mailbox", str(ref))])
    msg = reply.response
    return Counts(urgent=_int(msg, "UrgMessages", "MailboxCount"), new=_int(msg, "NewMessages", "MailboxCount"),
                  old=_int(msg, "OldMessages", "MailboxCount"))


async def voicemail_refresh(client: ActionRunner, context: str | None, mailbox: str | None = None) -> None:
    """Make app_voicemail recount and send MessageWaiting if the counts changed.

    No context: every mailbox. After a restart this emits nothing (no cached state yet, capture q2d).
    """
    headers: list[tuple[str, str]] = []
    if context is not None:
        headers.append(("Context", check_name(context, "context")))
    if mailbox is not None:
        if context is None:
            raise InvalidInput("VoicemailRefresh of one mailbox needs its context")
        headers.append(("Mailbox", check_name(mailbox, "mailbox")))
    await client.action("VoicemailRefresh", headers)


T = TypeVar("T")


async def then_box_summary(client: ActionRunner, first: Coroutine[Any, Any, T], context: str,
                           mailbox: str) -> tuple[T, list[BoxItem]]:
    """Run ``first`` (one action) with VoicemailBoxSummary sent right behind it, without waiting for
    its reply: one round trip instead of two. Asterisk runs the actions of one manager session one
    after the other, in the order they arrive (manager.c reads an action, runs its handler, then reads
    the next), so the listing shows the mailbox as ``first`` left it. ``first`` is started before the
    listing and so written first (the client writes requests in the order they are made).
    An error of ``first`` wins over one of the listing."""
    first_task = asyncio.ensure_future(first)
    listing_task = asyncio.ensure_future(voicemail_box_summary(client, context, mailbox))
    outcome, listing = await asyncio.gather(first_task, listing_task, return_exceptions=True)
    if isinstance(outcome, BaseException):
        raise outcome
    if isinstance(listing, BaseException):
        raise listing
    return outcome, listing


def _claims_success(reply: AmiResponse) -> bool:
    return reply.message.lower().endswith("successful")


async def voicemail_move(client: ActionRunner, context: str, mailbox: str, folder: str, msg_id: str,
                         to_folder: str, *, confirm: bool = False) -> bool:
    """VoicemailMove. Returns whether Asterisk's reply says it succeeded.

    ``confirm=True``: afterwards the msg_id must be listed in ``to_folder`` and no longer in ``folder``,
    else AmiActionError. A reply of failure with a confirmed state (e.g. a retry after a move that
    did happen) returns False without raising.
    """
    check_name(context, "context")
    check_name(mailbox, "mailbox")
    move = client.action("VoicemailMove", [
        ("Context", context), ("Mailbox", mailbox), ("Folder", _folder(folder)), ("ID", _msg_id(msg_id)),
        ("ToFolder", _folder(to_folder))])
    if not confirm:
        return _claims_success(await move)
    reply, items = await then_box_summary(client, move, context, mailbox)
    where = {item.folder for item in items if item.msg_id == msg_id}
    if where != {to_folder}:
        found = ", ".join(sorted(where)) or "nowhere"
        raise AmiActionError(f"VoicemailMove {folder}->{to_folder} of {msg_id} in {mailbox}@{context} "
                             f"not confirmed: the message is in {found} (reply: {reply.message!r})",
                             reply.response)
    return _claims_success(reply)


async def voicemail_remove(client: ActionRunner, context: str, mailbox: str, folder: str, msg_id: str, *,
                           confirm: bool = False) -> bool:
    """VoicemailRemove. Returns whether Asterisk's reply says it succeeded.

    ``confirm=True``: afterwards the msg_id must be in no folder of the mailbox, else AmiActionError.
    """
    check_name(context, "context")
    check_name(mailbox, "mailbox")
    remove = client.action("VoicemailRemove", [
        ("Context", context), ("Mailbox", mailbox), ("Folder", _folder(folder)), ("ID", _msg_id(msg_id))])
    if not confirm:
        return _claims_success(await remove)
    reply, items = await then_box_summary(client, remove, context, mailbox)
    where = {item.folder for item in items if item.msg_id == msg_id}
    if where:
        raise AmiActionError(f"VoicemailRemove of {msg_id} in {mailbox}@{context} not confirmed: still "
                             f"in {', '.join(sorted(where))} (reply: {reply.message!r})", reply.response)
    return _claims_success(reply)


async def voicemail_forward(client: ActionRunner, source: MailboxRef, folder: str, msg_id: str, to: MailboxRef,
                            to_folder: str = "INBOX", *, confirm: bool = False) -> bool:
    """VoicemailForward (capture q2b): app_voicemail copies the message's files, ``.txt`` included, into
    ``to_folder`` of ``to`` (so the copy keeps the msg_id) and sends MessageWaiting for ``to``. Returns
    whether the reply says it succeeded.

    The reply proves nothing: a full recipient folder gets no copy while the reply still says
    "successful". ``confirm=True``: afterwards the msg_id must be listed in ``to_folder`` of ``to``, else
    AmiActionError.
    """
    reply = await client.action("VoicemailForward", [
        ("Context", source.context), ("Mailbox", source.mailbox), ("Folder", _folder(folder)),
        ("ID", _msg_id(msg_id)), ("ToContext", to.context), ("ToMailbox", to.mailbox),
        ("ToFolder", _folder(to_folder))])
    claimed = _claims_success(reply)
    if confirm:
        where = {item.folder for item in await voicemail_box_summary(client, to.context, to.mailbox)
                 if item.msg_id == msg_id}
        if to_folder not in where:
            raise AmiActionError(f"VoicemailForward of {msg_id} to {to} not confirmed: the recipient's mailbox "
                                 f"does not list it in {to_folder} (reply: {reply.message!r})", reply.response)
    return claimed


def parse_message_waiting(msg: AmiMessage) -> MessageWaiting | None:
    """The MessageWaiting event as data; None for any other event or one without a mailbox.

    The event may carry the leaving caller's channel snapshot (CallerIDNum ...): it is ignored here.
    """
    if msg.event != "MessageWaiting":
        return None
    mailbox = (msg.get("Mailbox") or "").strip()
    if not mailbox:
        return None
    waiting = (msg.get("Waiting") or "").strip().lower()
    return MessageWaiting(mailbox=mailbox, waiting=waiting in ("1", "yes", "true"),
                          new=_maybe_int(msg.get("New")), old=_maybe_int(msg.get("Old")))
