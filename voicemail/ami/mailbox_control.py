"""What the mailbox services ask of Asterisk, over one blocking AMI connection.

* ``folder_of`` / ``move`` / ``remove``: app_voicemail's VoicemailBoxSummary / VoicemailMove /
  VoicemailRemove. Their replies prove nothing (capture q8: "Success" even when nothing happened), so
  every move and remove is confirmed by re-reading the mailbox (``actions.voicemail_move(confirm=True)``).
  A successful move or remove makes Asterisk renumber the folder and send MessageWaiting (q2b): the
  phone's lamp follows.
* ``originate_playback``: ``Originate`` of the owner's device with ``Application: Playback`` (Async),
  then watches for the OriginateResponse of that ActionID and the Hangup of its channel (q1 / q4: the
  reply says only "Originate successfully queued"; the outcome arrives as OriginateResponse).

The AMI connection is opened on first use (``connect`` is any factory returning a BlockingAmi).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from voicemail.ami.actions import (
    VoicemailUser,
    then_box_summary,
    voicemail_box_summary,
    voicemail_forward,
    voicemail_move,
    voicemail_remove,
    voicemail_users_list,
)
from voicemail.ami.blocking import BlockingAmi
from voicemail.ami.client import AmiActionError, AmiClient
from voicemail.domain.errors import AmiError, InvalidInput
from voicemail.domain.models import MailboxRef

log = logging.getLogger(__name__)

ACTION_TIMEOUT = 15.0


@dataclass(frozen=True)
class CallOutcome:
    """How an originated playback call went: ``answered`` (OriginateResponse Success; reported again when
    it hung up), ``failed`` (OriginateResponse Failure), ``timeout`` (no end seen in time) or ``error``.
    ``code``: the OriginateResponse ``Reason`` (q11: 4 answered, 3 no answer, 5 busy, 8 congestion,
    0 could not be called), None when there was no OriginateResponse."""

    reference: str
    result: str
    reason: str = ""
    code: int | None = None


class AmiMailboxControl:
    """``AmiMailboxControl(connect)``: ``connect()`` returns a BlockingAmi (called once, lazily)."""

    def __init__(self, connect: Callable[[], BlockingAmi]) -> None:
        self._connect = connect
        self._ami: BlockingAmi | None = None
        self._lock = threading.Lock()

    def _client(self) -> BlockingAmi:
        with self._lock:
            if self._ami is None:
                self._ami = self._connect()
            return self._ami

    def close(self) -> None:
        with self._lock:
            ami, self._ami = self._ami, None
        if ami is not None:
            ami.close()

    # --- app_voicemail --------------------------------------------------------------------------
    def folder_of(self, mailbox: MailboxRef, msg_id: str) -> str | None:
        """The folder app_voicemail lists ``msg_id`` in now, or None (not in the mailbox)."""
        items = self._client().run(
            lambda c: voicemail_box_summary(c, mailbox.context, mailbox.mailbox), timeout=ACTION_TIMEOUT)
        where = [item.folder for item in items if item.msg_id == msg_id]
        return where[0] if where else None

    def move(self, mailbox: MailboxRef, msg_id: str, from_folder: str, to_folder: str) -> None:
        """VoicemailMove, confirmed (AmiActionError, a TransientError, when Asterisk did not move it)."""
        self._client().run(lambda c: voicemail_move(c, mailbox.context, mailbox.mailbox, from_folder, msg_id,
                                                    to_folder, confirm=True), timeout=ACTION_TIMEOUT)

    def move_from(self, mailbox: MailboxRef, msg_id: str, listed: str, to_folder: str) -> str | None:
        """VoicemailMove from ``listed`` (the folder our database lists the message in), confirmed by
        re-reading the mailbox: both actions sent together, one AMI round trip (``then_box_summary``)
        instead of the three of ``folder_of`` + ``move``.

        Returns the folder the message was in: ``listed`` when Asterisk moved it, ``to_folder`` when it
        was there already. None when Asterisk did not move it and it is not in ``to_folder`` (our listing
        was out of date: nothing changed; use ``folder_of`` + ``move``). AmiActionError when Asterisk
        said it moved it but the mailbox does not show it in ``to_folder`` alone (capture q8)."""

        async def work(client: AmiClient) -> str | None:
            claimed, items = await then_box_summary(
                client, voicemail_move(client, mailbox.context, mailbox.mailbox, listed, msg_id, to_folder),
                mailbox.context, mailbox.mailbox)
            where = {item.folder for item in items if item.msg_id == msg_id}
            if where == {to_folder}:
                return listed if claimed else to_folder
            if not claimed:
                return None
            found = ", ".join(sorted(where)) or "nowhere"
            raise AmiActionError(f"VoicemailMove {listed}->{to_folder} of {msg_id} in {mailbox} not confirmed: "
                                 f"the message is in {found}")

        return self._client().run(work, timeout=ACTION_TIMEOUT)

    def remove(self, mailbox: MailboxRef, msg_id: str) -> bool:
        """Remove the message from whatever folder it is in now. False when Asterisk has no such message
        (already removed, e.g. on the phone): removing is idempotent."""
        folder = self.folder_of(mailbox, msg_id)
        if folder is None:
            return False
        self._client().run(lambda c: voicemail_remove(c, mailbox.context, mailbox.mailbox, folder, msg_id,
                                                      confirm=True), timeout=ACTION_TIMEOUT)
        return True

    def user(self, mailbox: MailboxRef) -> VoicemailUser | None:
        """The mailbox as VoicemailUsersList lists it (counts, maxmsg), or None when Asterisk has no such
        mailbox."""
        users = self._client().run(voicemail_users_list, timeout=ACTION_TIMEOUT)
        found = [u for u in users if u.context == mailbox.context and u.mailbox == mailbox.mailbox]
        return found[0] if found else None

    def forward(self, source: MailboxRef, folder: str, msg_id: str, to: MailboxRef) -> bool:
        """VoicemailForward into the INBOX of ``to``. True when re-reading that mailbox shows the copy in its
        INBOX; False when it does not (the reply says "successful" all the same when the folder is full)."""

        async def work(client: AmiClient) -> bool:
            await voicemail_forward(client, source, folder, msg_id, to, "INBOX")
            return any(item.msg_id == msg_id and item.folder == "INBOX"
                       for item in await voicemail_box_summary(client, to.context, to.mailbox))

        return self._client().run(work, timeout=ACTION_TIMEOUT)

    # --- Originate ------------------------------------------------------------------------------
    def originate_playback(self, channel: str, sound: str, caller_id: str, *, ring_timeout: float,
                           max_call: float, on_end: Callable[[CallOutcome], None],
                           on_response: Callable[[CallOutcome], None] | None = None) -> str:
        """Ring ``channel`` and play ``sound`` (a file path without extension) when answered.

        Returns the call reference (the Originate's ActionID) once Asterisk queued the call; raises
        AmiError if it did not. ``on_end`` runs exactly once, in a background thread, when the call is
        over whatever the outcome (failure, hangup, ``ring_timeout + max_call`` seconds without an end,
        lost connection). ``on_response`` runs once (in the AMI thread; it must be quick) when the
        OriginateResponse arrives: answered, or failed with its Reason."""
        if not channel or "\n" in channel or "\r" in channel or "/" not in channel:
            raise InvalidInput("a device channel looks like TECH/resource, e.g. PJSIP/1001")
        ami = self._client()
        queued: concurrent.futures.Future[str] = concurrent.futures.Future()
        headers = [("Channel", channel), ("Application", "Playback"), ("Data", sound),
                   ("CallerID", caller_id), ("Timeout", str(int(ring_timeout * 1000))), ("Async", "true")]
        budget = ring_timeout + max_call + ACTION_TIMEOUT

        async def work(client: AmiClient) -> CallOutcome:
            stream = client.events()
            try:
                reply = await client.action("Originate", headers, timeout=ACTION_TIMEOUT)
                reference = reply.get("ActionID") or ""
                queued.set_result(reference)
                return await _watch(stream, reference, ring_timeout + max_call, on_response)
            finally:
                stream.close()

        def runner() -> None:
            outcome: CallOutcome
            try:
                outcome = ami.run(work, timeout=budget)
            except Exception as exc:  # connection lost, refused Originate, timeout: the call is over for us
                if not queued.done():
                    queued.set_exception(exc)
                    return
                outcome = CallOutcome(queued.result(), "error", type(exc).__name__)
            try:
                on_end(outcome)
            except Exception:
                log.exception("cleanup after the playback call failed")

        threading.Thread(target=runner, name="phone-playback", daemon=True).start()
        try:
            return queued.result(ACTION_TIMEOUT + 5)
        except concurrent.futures.TimeoutError:
            raise AmiError("Originate was not answered in time") from None
        except AmiError:
            raise
        except Exception as exc:
            raise AmiError(f"Originate failed: {type(exc).__name__}: {exc}") from None


def _reason(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 4 else None


async def _watch(stream: object, reference: str, limit: float,
                 on_response: Callable[[CallOutcome], None] | None = None) -> CallOutcome:
    """Follow the events until the originated call is over."""
    from voicemail.ami.client import EventStream

    assert isinstance(stream, EventStream)
    uniqueid: str | None = None
    hung_up: set[str] = set()
    try:
        async with asyncio.timeout(limit):
            async for event in stream:
                name = event.event
                if name == "OriginateResponse" and event.get("ActionID") == reference:
                    code = _reason(event.get("Reason"))
                    if (event.get("Response") or "").lower() != "success":
                        failed = CallOutcome(reference, "failed", f"reason {event.get('Reason') or '?'}", code)
                        _tell(on_response, failed)
                        return failed
                    _tell(on_response, CallOutcome(reference, "answered", code=code))
                    uniqueid = event.get("Uniqueid") or ""
                    if uniqueid in hung_up:
                        return CallOutcome(reference, "answered", code=code)
                elif name == "Hangup":
                    gone = event.get("Uniqueid") or ""
                    if uniqueid is not None and gone == uniqueid:
                        return CallOutcome(reference, "answered", code=4)
                    if len(hung_up) < 10_000:  # other calls' hangups, in case ours ends before its response
                        hung_up.add(gone)
    except TimeoutError:
        return CallOutcome(reference, "timeout")
    return CallOutcome(reference, "error", "event stream ended")


def _tell(callback: Callable[[CallOutcome], None] | None, outcome: CallOutcome) -> None:
    if callback is not None:
        try:
            callback(outcome)
        except Exception:
            log.exception("reporting the playback call's answer failed")
