"""How a called phone can fail to take a call, as Originate reports it (capture q11).

    not answered within Timeout  Reason 3, causes 19/19, Cdr NO ANSWER (also when it never rang)
    Ringing()                    Newstate Ringing (;1), DialState RINGING, then as above at the timeout
    Busy()                       Reason 5, DialEnd BUSY, Newstate Busy (;2), causes 0/17, Cdr BUSY
    Congestion()                 Reason 8, DialEnd CONGESTION, causes 0/34, Cdr CONGESTION
    no such extension/context    Reason 0, channels created and hung up at once, causes 0/0, Cdr FAILED,
                                 DeviceStateChange INVALID

A failed OriginateResponse names the dial string as sent and ``Uniqueid: <unknown>`` (or the
``ChannelId`` asked for). The device-state and LINKEDID_END placement of each case is the captured one.
"""

from __future__ import annotations

from voicemail.standin import events
from voicemail.standin.call import DIAL_APP, Call
from voicemail.standin.channel import Channel

REASON_NO_ANSWER = 3
REASON_BUSY = 5
REASON_CONGESTION = 8
REASON_FAILED = 0


async def indicate(call: Call, ch: Channel, app: str) -> bool:
    """``Ringing()``, ``Busy()``, ``Congestion()`` on the phone (``;2``) half."""
    if call.answered.is_set() or call.peer_gone(ch):
        return not call.peer_gone(ch)
    one = call.one
    if app == "ringing":
        one.state = 5
        call.emit(events.newstate(one))
        call.emit(events.dial_state(one, "RINGING"))
        call.emit(events.device_state(one.device, "INUSE"))
        return True
    busy = app == "busy"
    ch.state = 7
    call.emit(events.newstate(ch))
    call.emit(events.dial_end(one, "BUSY" if busy else "CONGESTION"))
    call.emit(events.hangup_request(ch, 0))
    call.emit(events.soft_hangup_request(ch, 16))
    if not busy:
        call.emit(events.device_state(one.device, "INUSE"))
    _end(call, (0, 17 if busy else 34), "BUSY" if busy else "CONGESTION",
         REASON_BUSY if busy else REASON_CONGESTION, linked_end_on=1 if busy else 2, idle=3 if busy else 2)
    return False


def no_answer(call: Call) -> None:
    """The Originate Timeout ran out before the phone answered."""
    if call.answered.is_set() or any(g.is_set() for g in call.gone.values()):
        return
    two = call.two
    call.emit(events.hangup_request(two, 19))
    call.emit(events.soft_hangup_request(two, 16))
    _end(call, (19, 19), "NO ANSWER", REASON_NO_ANSWER, linked_end_on=1, idle=2)


def no_such_extension(call: Call) -> None:
    """The Local channel's extension does not exist: both halves go at once."""
    for ch in (call.two, call.one):
        ch.cdr_app = DIAL_APP if ch.side == 1 else ("", "")
    _end(call, (0, 0), "FAILED", REASON_FAILED, linked_end_on=1, idle=0, device="INVALID")


def _end(call: Call, causes: tuple[int, int], disposition: str, reason: int, *, linked_end_on: int, idle: int,
         device: str = "NOT_INUSE") -> None:
    now = call.pbx.now()
    call.one.cdr_app = DIAL_APP
    for ch, cause in ((call.two, causes[1]), (call.one, causes[0])):
        call.emit(events.cdr(ch, now, disposition))
        last = DIAL_APP if ch.side == 1 else ("", "")
        call.cel(ch, "HANGUP", app=last, extra=events.cel_hangup_extra(cause, ""))
        call.cel(ch, "CHAN_END", app=last)
        if ch.side == linked_end_on:
            call.cel(ch, "LINKEDID_END", app=last)
    if call.on_fail is not None:
        call.on_fail(reason)
    for ch, cause in ((call.two, causes[1]), (call.one, causes[0])):
        call.emit(events.hangup(ch, cause))
    for _ in range(idle if device == "NOT_INUSE" else 2):
        call.emit(events.device_state(call.one.device, device))
    call.cause = causes[0]
    for ch in (call.two, call.one):
        call.finish(ch)
