"""The ``VoiceMail(mailbox@context,options)`` application (app_voicemail ``leave_voicemail``).

Greeting (``u``: vm-theperson, the mailbox digits, vm-isunavail; ``b``: ... vm-isonphone; ``s`` skips
the instructions), the maxmsg check (``vm-mailboxfull``, VMSTATUS=FAILED, no event -- q7b), the beep,
the recording until the caller hangs up, then the files (tmp -> folder, audio before ``.txt``),
``VM_MESSAGEFILE``, the e-mail template variables (mailboxes with an e-mail address), MessageWaiting
with the channel snapshot, ``VMSTATUS=SUCCESS``. Option ``U`` stores the message in ``Urgent``.
"""

from __future__ import annotations

import logging
import zlib

from voicemail.standin import audio, events
from voicemail.standin.call import Call
from voicemail.standin.channel import Channel, merge_callerid, split_callerid
from voicemail.standin.clock import sound_seconds
from voicemail.standin.config import StandinMailbox
from voicemail.standin.msginfo import MessageInfo, email_date

log = logging.getLogger(__name__)
MAX_RECORD_LAB_SECONDS = 600.0
CALLERID_MAX = 255  # leave_voicemail's char callerid[256]


def parse_args(data: str) -> tuple[str, str, str]:
    """``1001@default&1002,su`` -> ("1001", "default", "su") (the first mailbox only)."""
    boxes, _, options = data.partition(",")
    first = boxes.split("&")[0].strip()
    box, _, context = first.partition("@")
    return box, context or "default", options


def greeting(mailbox: str, options: str) -> list[str]:
    sounds: list[str] = []
    if "u" in options or "b" in options:
        sounds.append("vm-theperson")
        sounds += [f"digits/{c}" for c in mailbox if c.isdigit()]
        sounds.append("vm-isonphone" if "b" in options else "vm-isunavail")
    if "s" not in options:
        sounds.append("vm-intro")
    return sounds


async def play(call: Call, ch: Channel, sound: str) -> bool:
    """CEL STREAM_BEGIN / STREAM_END around one sound. False when the peer hung up meanwhile."""
    call.cel(ch, "STREAM_BEGIN", extra=events.cel_stream_extra(sound))
    ok = await call.media(ch, sound_seconds(sound))
    call.cel(ch, "STREAM_END")
    return ok


async def voicemail(call: Call, ch: Channel, data: str) -> bool:
    """Run the application on ``ch``. Returns False when the channel was hung up meanwhile."""
    pbx = call.pbx
    box, context, options = parse_args(data)
    user = pbx.find_user(context, box)
    if user is None:
        log.warning("standin: VoiceMail for a mailbox that is not configured")
        call.varset(ch, "VMSTATUS", "FAILED")
        return True
    urgent = "U" in options
    folder = "Urgent" if urgent else "INBOX"
    pbx.spool.create_dirpath(user.context, user.mailbox, "INBOX")
    for sound in greeting(user.mailbox, options):
        if not await play(call, ch, sound):
            return False
    folder_dir = pbx.spool.create_dirpath(user.context, user.mailbox, folder)
    count = pbx.spool.count_messages(folder_dir)
    if count >= pbx.config.maxmsg - pbx.inprocess_add(user.ident, +1):
        pbx.inprocess_add(user.ident, -1)
        log.warning("standin: No more messages possible (mailbox folder full)")
        ok = await play(call, ch, "vm-mailboxfull")
        call.varset(ch, "VMSTATUS", "FAILED")
        return ok
    try:
        return await _record(call, ch, user, folder, urgent)
    finally:
        pbx.inprocess_add(user.ident, -1)


async def _record(call: Call, ch: Channel, user: StandinMailbox, folder: str, urgent: bool) -> bool:
    pbx = call.pbx
    dep = pbx.spool.begin_deposit(user, folder)
    if not await play(call, ch, "beep"):
        pbx.spool.abandon_deposit(dep)
        return False
    origtime = int(pbx.now())
    msg_id = pbx.ids.msg_id(origtime)
    pbx.spool.start_recording(dep)
    recorded = await call.until_peer_gone(ch, MAX_RECORD_LAB_SECONDS)
    wav_file: bytes | None = None
    if call.audio is not None:
        wav_file, pcm = audio.caller_recording(call.audio)
    else:
        pcm = audio.generate_pcm(audio.lab_recording_samples(recorded), seed=zlib.crc32(msg_id.encode()))
    duration = int(audio.seconds(pcm))
    flag = "Urgent" if urgent else ""
    callerid = merge_callerid(ch.caller.name, ch.caller.num, "Unknown")[:CALLERID_MAX]
    info = MessageInfo(origmailbox=user.mailbox, context=ch.context, exten=ch.exten, priority=ch.priority,
                       callerchan=ch.name, callerid=callerid, origtime=origtime, msg_id=msg_id, flag=flag,
                       duration=duration)
    files = {ext: audio.render(ext, pcm, wav_file) for ext in dep.extensions}
    base = pbx.spool.finish_deposit(dep, info.render(), files)
    msgnum = int(base.name[3:])
    call.varset(ch, "VM_MESSAGEFILE", str(base))
    if user.email:
        _email_variables(call, ch, user, msgnum, duration, flag, info)
    urgent_n, new_n, old_n = pbx.spool.inboxcount2(user.ident)
    pbx.mwi.queue(ch, user.ident, urgent_n, new_n, old_n)
    call.varset(ch, "VMSTATUS", "SUCCESS")
    call.result.msg_id = msg_id
    return False


def _email_variables(call: Call, ch: Channel, user: StandinMailbox, msgnum: int, duration: int, flag: str,
                     info: MessageInfo) -> None:
    """``prep_email_sub_vars`` on app_voicemail's dummy channel (``Channel: none``). Allocating that
    channel uses up a Uniqueid (capture q2: the next call after a mail to 1001 skips one)."""
    call.pbx.ids.uniqueid(call.pbx.now())
    name, num = ch.caller.name, ch.caller.num
    callerid = f'"{name or ""}" <{num or ""}>' if name or num else "an unknown caller"
    orig_name, orig_num = split_callerid(info.callerid)
    for var, value in (
        ("VM_NAME", user.fullname), ("VM_DUR", f"{duration // 60}:{duration % 60:02d}"),
        ("VM_MSGNUM", str(msgnum + 1)), ("VM_CONTEXT", user.context), ("VM_MAILBOX", user.mailbox),
        ("VM_CALLERID", callerid), ("VM_CIDNAME", name or "an unknown caller"),
        ("VM_CIDNUM", num or "an unknown caller"), ("VM_DATE", email_date(call.pbx.now())),
        ("VM_CATEGORY", "no category"), ("VM_FLAG", flag), ("ORIG_VM_CALLERID", info.callerid),
        ("ORIG_VM_CIDNAME", orig_name), ("ORIG_VM_CIDNUM", orig_num),
        ("ORIG_VM_DATE", email_date(info.origtime)),
    ):
        call.varset(None, var, value)
