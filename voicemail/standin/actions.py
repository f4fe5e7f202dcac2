"""app_voicemail's manager actions and the core mailbox actions, replies byte for byte as captured.

VoicemailUsersList / VoicemailUserStatus / VoicemailBoxSummary / VoicemailRefresh / VoicemailMove /
VoicemailRemove / VoicemailForward (app_voicemail.c) and MailboxCount / MailboxStatus (manager.c).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from voicemail.ami.parser import AmiMessage
from voicemail.standin import replies
from voicemail.standin.config import FROM_STRING, MAIL_COMMAND, SERVER_EMAIL, StandinMailbox
from voicemail.standin.pbx import Pbx
from voicemail.standin.wire import Headers


@dataclass(frozen=True)
class Outcome:
    """The reply messages of an action, and what to publish once they are sent (MWI)."""

    replies: list[bytes]
    then: Callable[[], None] | None = None


def _user_info(pbx: Pbx, user: StandinMailbox) -> Headers:
    """``append_vmu_info_astman``."""
    new, old = pbx.spool.inboxcount(user.ident)
    return [
        ("VMContext", user.context), ("VoiceMailbox", user.mailbox), ("Fullname", user.fullname),
        ("Email", user.email or "(null)"), ("Pager", ""), ("ServerEmail", SERVER_EMAIL),
        ("FromString", FROM_STRING), ("MailCommand", MAIL_COMMAND), ("Language", ""), ("TimeZone", ""),
        ("Callback", ""), ("Dialout", ""), ("UniqueID", ""), ("ExitContext", ""), ("SayDurationMinimum", "2"),
        ("SayEnvelope", "Yes"), ("SayCID", "No"), ("AttachMessage", "No"), ("AttachmentFormat", ""),
        ("DeleteMessage", "No"), ("VolumeGain", "0.00"), ("CanReview", "No"), ("CanMarkUrgent", "Yes"),
        ("CallOperator", "No"), ("MaxMessageCount", str(pbx.config.maxmsg)), ("MaxMessageLength", "0"),
        ("NewMessageCount", str(new)), ("OldMessageCount", str(old)),
    ]


def users_list(pbx: Pbx, m: AmiMessage) -> Outcome:
    users = pbx.config.mailboxes
    if not users:
        return Outcome([replies.ack(m, "There are no voicemail users currently defined.")])
    out = [replies.listack(m, "Voicemail user list will follow")]
    out += [replies.list_item(m, "VoicemailUserEntry", _user_info(pbx, u)) for u in users]
    out.append(replies.list_complete(m, "VoicemailUserEntryComplete", len(users)))
    return Outcome(out)


def _context_mailbox(m: AmiMessage) -> tuple[str, str]:
    return m.get("Context") or "", m.get("Mailbox") or ""


def _user_or_reply(pbx: Pbx, m: AmiMessage) -> StandinMailbox | Outcome:
    context, mailbox = _context_mailbox(m)
    if not context or not mailbox:
        return Outcome([replies.error(m, "Need 'Context' and 'Mailbox' parameters.")])
    user = pbx.find_user(context, mailbox)
    if user is None:
        return Outcome([replies.ack(m, "There is no voicemail user matching the given user.")])
    return user


def user_status(pbx: Pbx, m: AmiMessage) -> Outcome:
    user = _user_or_reply(pbx, m)
    if isinstance(user, Outcome):
        return user
    return Outcome([replies.listack(m, "Voicemail user detail will follow"),
                    replies.list_item(m, "VoicemailUserDetail", _user_info(pbx, user)),
                    replies.list_complete(m, "VoicemailUserDetailComplete", 1)])


def box_summary(pbx: Pbx, m: AmiMessage) -> Outcome:
    user = _user_or_reply(pbx, m)
    if isinstance(user, Outcome):
        return user
    details = pbx.spool.snapshot(user)
    out = [replies.listack(m, "Voicemail box detail will follow")]
    for d in details:
        out.append(replies.list_item(m, "VoicemailBoxDetail", [
            ("Folder", d.folder), ("CallerID", d.callerid), ("Date", d.origdate), ("Duration", d.duration),
            ("Flag", d.flag), ("ID", d.msg_id)]))
    out.append(replies.list_complete(m, "VoicemailBoxDetailComplete", len(details)))
    return Outcome(out)


def mailbox_count(pbx: Pbx, m: AmiMessage) -> Outcome:
    mailbox = m.get("Mailbox") or ""
    if not mailbox:
        return Outcome([replies.error(m, "Mailbox not specified")])
    urgent, new, old = pbx.spool.inboxcount2(mailbox)
    return Outcome([replies.start_ack(m, [("Message", "Mailbox Message Count"), ("Mailbox", mailbox),
                                          ("UrgMessages", str(urgent)), ("NewMessages", str(new)),
                                          ("OldMessages", str(old))])])


def mailbox_status(pbx: Pbx, m: AmiMessage) -> Outcome:
    mailbox = m.get("Mailbox") or ""
    if not mailbox:
        return Outcome([replies.error(m, "Mailbox not specified")])
    waiting = pbx.spool.has_voicemail(mailbox)
    return Outcome([replies.start_ack(m, [("Message", "Mailbox Status"), ("Mailbox", mailbox),
                                          ("Waiting", "1" if waiting else "0")])])


def refresh(pbx: Pbx, m: AmiMessage) -> Outcome:
    """``VoicemailRefresh``: after the reply, re-publish MWI of cached mailboxes whose counts changed."""
    context, mailbox = _context_mailbox(m)
    if "@" in mailbox:
        mailbox, _, context = mailbox.partition("@")
    cached = set(pbx.mwi.cached())
    todo: list[StandinMailbox] = []
    for user in pbx.config.mailboxes:
        if context and context.lower() != user.context.lower():
            continue
        if mailbox and mailbox.lower() != user.mailbox.lower():
            continue
        if user.ident in cached:
            todo.append(user)

    def publish() -> None:
        for user in todo:
            urgent, new, old = pbx.spool.inboxcount2(user.ident)
            if pbx.mwi.needs_publish(user.ident, urgent, new, old):
                pbx.mwi.queue(None, user.ident, urgent, new, old)

    return Outcome([replies.ack(m, "Refresh sent")], publish)


def _required(m: AmiMessage, names: tuple[str, ...]) -> bytes | None:
    for name in names:
        if not m.get(name):
            return replies.error(m, f"{name} not specified, required")
    return None


def _notify(pbx: Pbx, user: StandinMailbox) -> Callable[[], None]:
    """``notify_new_state``: recount and publish MWI (no channel)."""

    def publish() -> None:
        urgent, new, old = pbx.spool.inboxcount2(user.ident)
        pbx.mwi.queue(None, user.ident, urgent, new, old)

    return publish


def move(pbx: Pbx, m: AmiMessage) -> Outcome:
    missing = _required(m, ("Mailbox", "Context", "Folder", "ID", "ToFolder"))
    if missing:
        return Outcome([missing])
    user = pbx.find_user(m["Context"], m["Mailbox"])
    if user is not None and pbx.spool.move(user, m["Folder"], m["ID"], m["ToFolder"]):
        return Outcome([replies.ack(m, "Message move successful\n")], _notify(pbx, user))
    return Outcome([replies.ack(m, "Message move failed\n")])


def remove(pbx: Pbx, m: AmiMessage) -> Outcome:
    missing = _required(m, ("Mailbox", "Context", "Folder", "ID"))
    if missing:
        return Outcome([missing])
    user = pbx.find_user(m["Context"], m["Mailbox"])
    if user is not None and pbx.spool.remove(user, m["Folder"], m["ID"]):
        return Outcome([replies.ack(m, "Message remove successful\n")], _notify(pbx, user))
    return Outcome([replies.ack(m, "Message remove failed\n")])


def forward(pbx: Pbx, m: AmiMessage) -> Outcome:
    missing = _required(m, ("Mailbox", "Context", "Folder", "ID", "ToMailbox", "ToContext", "ToFolder"))
    if missing:
        return Outcome([missing])
    user = pbx.find_user(m["Context"], m["Mailbox"])
    to_user = pbx.find_user(m["ToContext"], m["ToMailbox"])
    if user is not None and to_user is not None and pbx.spool.forward(user, m["Folder"], m["ID"], to_user,
                                                                        m["ToFolder"]):
        return Outcome([replies.ack(m, "Message forward successful\n")], _notify(pbx, to_user))
    return Outcome([replies.ack(m, "Message forward failed\n")])
