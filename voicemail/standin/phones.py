"""What a called phone signals instead of answering: ``Ringing()``, ``Busy()``, ``Congestion()``."""

from __future__ import annotations

from voicemail.standin.call import Call
from voicemail.standin.channel import Channel


async def indicate(call: Call, ch: Channel, app: str) -> bool:
    if app == "ringing":
        return not call.peer_gone(ch)
    call.hangup_first(ch, 17 if app == "busy" else 34, "dialplan/builtin")
    return False
