"""The ``msgNNNN.txt`` envelope of a message left by an outside caller through the trunk, as the stand-in's
app_voicemail writes it (``voicemail.standin.msginfo``), for tests that lay messages into a spool by hand."""

from __future__ import annotations

from voicemail.standin.msginfo import MessageInfo


def trunk_envelope(mailbox: str, n: int, origtime: int) -> str:
    """Message ``n`` for ``mailbox``, left at ``origtime`` by +12025550123 (an external caller); its msg_id
    is ``<origtime>-<n as 8 hex digits>``."""
    return MessageInfo(origmailbox=mailbox, context="vm-from-trunk", exten=mailbox, priority=1,
                       callerchan=f"PJSIP/trunk-{n:08x}", callerid="+12025550123", origtime=origtime,
                       msg_id=f"{origtime}-{n:08x}", flag="", duration=1).render()
