"""A Local channel pair: its creation, answer, media waits, and the two ways a half hangs up.

The event order of each step is the order of capture q1 (and q1b, q4, q4b, q7b for the variants).
Each half runs as its own task; when one half hangs up (the *initiator*), the other (the *responder*)
is woken from whatever it waits for, finishes its application, and hangs up with the same cause.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from voicemail.standin import events
from voicemail.standin.channel import Channel, Party
from voicemail.standin.pbx import Pbx
from voicemail.standin.wire import Event

CEL_APPS = frozenset({"voicemail", "playback", "agi"})  # cel.conf: apps = voicemail,playback,agi
DIAL_APP = ("AppDial2", "(Outgoing Line)")


def _resolve(fut: asyncio.Future[bool | str], value: bool | str) -> None:
    if not fut.done():
        fut.set_result(value)


@dataclass
class CallResult:
    """What a VoiceMail application on this call did (for ``leave_message``)."""

    msg_id: str | None = None


@dataclass(eq=False)
class Call:
    pbx: Pbx
    one: Channel
    two: Channel
    caller: Party
    audio: bytes | None = None
    result: CallResult = field(default_factory=CallResult)
    cause: int = 0
    gone: dict[int, asyncio.Event] = field(default_factory=lambda: {1: asyncio.Event(), 2: asyncio.Event()})
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    agi_started: asyncio.Event = field(default_factory=asyncio.Event)
    speech: list[tuple[float, bytes]] = field(default_factory=list)  # what the caller played, from when
    nominal: dict[int, float | None] = field(default_factory=lambda: {1: 0.0, 2: 0.0})
    on_answer: Callable[[], None] | None = None
    on_fail: Callable[[int], None] | None = None   # the call failed before an answer (OriginateResponse reason)
    initiator_links_end: bool = False               # LINKEDID_END on the half that hung up first
    epoch: float = 0.0
    wakers: dict[int, asyncio.Future[bool | str] | None] = field(default_factory=lambda: {1: None, 2: None})
    accept: dict[int, str | None] = field(default_factory=lambda: {1: None, 2: None})
    # where on the call's timeline each half hung up, and where the wait of each half ends (None: not on it)
    gone_at: dict[int, float | None] = field(default_factory=lambda: {1: None, 2: None})
    waiting_until: dict[int, float | None] = field(default_factory=lambda: {1: None, 2: None})

    # --- helpers -------------------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        self.pbx.publish(event)

    def peer(self, ch: Channel) -> Channel:
        return self.two if ch.side == 1 else self.one

    def peer_gone(self, ch: Channel) -> bool:
        return self.gone[3 - ch.side].is_set()

    def cel(self, ch: Channel, name: str, *, extra: str = "", app: tuple[str, str] | None = None) -> None:
        self.emit(events.cel(ch, name, self.pbx.now(), extra=extra, app=app))

    async def media(self, ch: Channel, lab_seconds: float, *, real: bool = False) -> bool:
        """Play/wait for ``lab_seconds`` (scaled unless ``real``). False when the peer hung up first.

        Waits end at deadlines on the call's own timeline (answer + the sum of what this half played),
        so the two halves keep the lab's relative order however busy the event loop is: a half that lags
        behind still finishes what it played before the point on the timeline where its peer hung up."""
        loop = asyncio.get_running_loop()
        nominal = self.nominal[ch.side]
        if real or nominal is None:
            if self.peer_gone(ch):
                return False
            if real:
                self.nominal[ch.side] = None
            deadline = loop.time() + (lab_seconds if real else self.pbx.timing.scaled(lab_seconds))
            return await self._sleep_until(ch, deadline) is True
        end = nominal + lab_seconds
        if self.peer_gone(ch):
            gone_at = self.gone_at[3 - ch.side]
            if gone_at is None or gone_at <= nominal:
                return False
            if end > gone_at:  # the peer hung up during this play
                self.nominal[ch.side] = gone_at
                return False
        self.nominal[ch.side] = end
        self.waiting_until[ch.side] = end
        try:
            return await self._sleep_until(ch, self.epoch + self.pbx.timing.scaled(end)) is True
        finally:
            self.waiting_until[ch.side] = None

    async def listen(self, ch: Channel, lab_seconds: float | None, accept: str) -> bool | str:
        """Wait up to ``lab_seconds`` (scaled; None: no limit) for a digit of ``accept`` to reach ``ch``.
        Returns the digit, True when the time ran out, False when the peer hung up first. Digits that
        arrive while nobody listens are lost, as frames read by an idle Async AGI loop are."""
        if self.peer_gone(ch):
            return False
        loop = asyncio.get_running_loop()
        deadline = None if lab_seconds is None else loop.time() + self.pbx.timing.scaled(lab_seconds)
        self.accept[ch.side] = accept
        try:
            return await self._sleep_until(ch, deadline)
        finally:
            self.accept[ch.side] = None

    def press(self, ch: Channel, digit: str) -> None:
        """A DTMF digit ended on ``ch``: hand it to whatever listens for it there."""
        fut, accept = self.wakers[ch.side], self.accept[ch.side]
        if fut is not None and accept is not None and digit in accept:
            _resolve(fut, digit)

    async def _sleep_until(self, ch: Channel, deadline: float | None) -> bool | str:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool | str] = loop.create_future()
        self.wakers[ch.side] = fut
        handle = loop.call_at(deadline, _resolve, fut, True) if deadline is not None else None
        try:
            return await fut
        finally:
            if handle is not None:
                handle.cancel()
            self.wakers[ch.side] = None

    async def until_peer_gone(self, ch: Channel, limit_lab_seconds: float) -> float:
        """Record until the peer hangs up (at most ``limit``); returns the lab seconds recorded."""
        start_nominal = self.nominal[ch.side]
        start = time.monotonic()
        peer = 3 - ch.side
        if self.gone[peer].is_set():
            gone_at = self.gone_at[peer]
            if gone_at is None or start_nominal is None or gone_at <= start_nominal:
                return 0.0
            return min(limit_lab_seconds, gone_at - start_nominal)  # this half lagged behind the hangup
        deadline = asyncio.get_running_loop().time() + self.pbx.timing.scaled(limit_lab_seconds)
        if await self._sleep_until(ch, deadline) is True:
            return limit_lab_seconds
        peer_nominal = self.nominal[peer]
        if start_nominal is not None and peer_nominal is not None:
            return max(0.0, peer_nominal - start_nominal)
        return (time.monotonic() - start) / self.pbx.timing.scale

    def newexten(self, ch: Channel, priority: int, app: str, data: str) -> None:
        ch.priority = priority
        self.emit(events.newexten(ch, app, data))

    def start_app(self, ch: Channel, app: str, data: str) -> None:
        """An application starts: CDR's last app; CEL APP_END of the previous tracked app + APP_START."""
        ch.app, ch.appdata = app, data
        ch.cdr_app = (app, data)
        if app.lower() in CEL_APPS:
            if ch.cel_app is not None and ch.cel_app[0] == app:
                ch.cel_app = (app, data)  # cel.c reports a change of application name only
                return
            if ch.cel_app is not None:
                self.cel(ch, "APP_END", app=ch.cel_app)
            ch.cel_app = (app, data)
            self.cel(ch, "APP_START")

    def varset(self, ch: Channel | None, name: str, value: str) -> None:
        if ch is not None:
            ch.variables[name] = value
        self.emit(events.varset(ch, name, value))

    # --- creation and answer -------------------------------------------------------------------------

    def create(self, dialstring: str, optimize: bool, *, dial: bool = True) -> None:
        """Channels exist, caller id set, the ;2 half is being dialled (q1 order); ``dial`` False: the
        extension does not exist, so there is no LocalBridge and no DialBegin (q11 e)."""
        one, two, caller = self.one, self.two, self.caller
        self.pbx.register(one)
        self.pbx.register(two)
        self.cel(one, "CHAN_START", app=("", ""))
        self.emit(events.newchannel(one))
        self.emit(events.newchannel(two))
        one.app, one.appdata = DIAL_APP
        self.emit(events.newexten(one, *DIAL_APP))
        if caller.is_set:
            one.caller = caller.copy()
            one.ani = caller.num or ""
            self.emit(events.newcallerid(one))
            one.connected = caller.copy()
            self.emit(events.newconnectedline(one))
        self.cel(two, "CHAN_START", app=("", ""))
        if caller.is_set:
            two.caller = caller.copy()
            two.connected = caller.copy()
            self.emit(events.newcallerid(two))
            self.emit(events.newconnectedline(two))
        if dial:
            self.emit(events.local_bridge(one, two, two.context, two.exten, optimize))
            self.emit(events.dial_begin(one, dialstring))

    def answer(self) -> None:
        """The ;2 half ran Answer(): both halves Up, the dial ends, the originator's side starts."""
        self.epoch = asyncio.get_running_loop().time()
        now = self.pbx.now()
        for ch in (self.two, self.one):
            ch.state = 6
            ch.answered = now
            self.emit(events.newstate(ch))
        self.emit(events.dial_end(self.one))
        self.cel(self.two, "ANSWER", app=("Answer", ""))
        self.cel(self.one, "ANSWER")
        self.pbx.live_pairs[self.one.device] = self.pbx.live_pairs.get(self.one.device, 0) + 1
        self.answered.set()
        if self.on_answer is not None:
            self.on_answer()

    def device_states(self, count: int) -> None:
        state = "INUSE" if self.pbx.live_pairs.get(self.one.device, 0) > 0 else "NOT_INUSE"
        for _ in range(count):
            self.emit(events.device_state(self.one.device, state))

    # --- hanging up ----------------------------------------------------------------------------------

    def _pair_broken(self) -> None:
        if not any(g.is_set() for g in self.gone.values()):
            device = self.one.device
            self.pbx.live_pairs[device] = max(0, self.pbx.live_pairs.get(device, 0) - 1)

    def _end_cels(self, ch: Channel, cause: int, source: str, linked_end: bool) -> None:
        if ch.cel_app is not None:
            self.cel(ch, "APP_END", app=ch.cel_app)
        last = DIAL_APP if ch.side == 1 else ("", "")
        self.cel(ch, "HANGUP", app=last, extra=events.cel_hangup_extra(cause, source))
        self.cel(ch, "CHAN_END", app=last)
        if linked_end:
            self.cel(ch, "LINKEDID_END", app=last)

    def hangup_first(self, ch: Channel, cause: int, source: str, *, soft_cause: int | None = None,
                     cdr: str = "after_request") -> None:
        """This half hangs up while the other is still up (the initiator)."""
        if self.gone[ch.side].is_set():
            return
        peer = self.peer(ch)
        if cdr == "first":
            self.emit(events.cdr(ch, self.pbx.now()))
        if soft_cause is not None:
            self.emit(events.soft_hangup_request(ch, soft_cause))
        self.emit(events.hangup_request(peer, cause))
        if cdr == "after_request":
            self.emit(events.cdr(ch, self.pbx.now()))
        self._pair_broken()
        self.emit(events.hangup(ch, cause))
        self.device_states(1)
        self._end_cels(ch, cause, source, linked_end=self.initiator_links_end)
        self._finish(ch, cause)

    def hangup_second(self, ch: Channel, *, soft: bool, cdr: str = "after_hangup") -> None:
        """This half hangs up after the other did (the responder): same cause, LINKEDID_END."""
        if self.gone[ch.side].is_set():
            return
        cause = self.cause
        if soft:
            self.emit(events.soft_hangup_request(ch, 16))
        if cdr == "before_hangup":
            self.emit(events.cdr(ch, self.pbx.now()))
        self._pair_broken()
        self.emit(events.hangup(ch, cause))
        self.device_states(1)
        if cdr == "after_hangup":
            self.emit(events.cdr(ch, self.pbx.now()))
        self._end_cels(ch, cause, "", linked_end=not self.initiator_links_end)
        self._finish(ch, cause)

    def hangup(self, ch: Channel, cause: int, source: str, *, soft_cause: int | None = None, soft: bool = False,
               first_cdr: str = "after_request", second_cdr: str = "after_hangup") -> None:
        """Hang ``ch`` up as initiator or responder, whichever it is now."""
        if self.peer_gone(ch):
            self.hangup_second(ch, soft=soft or soft_cause is not None, cdr=second_cdr)
        else:
            self.hangup_first(ch, cause, source, soft_cause=soft_cause, cdr=first_cdr)

    def finish(self, ch: Channel) -> None:
        """``ch`` is gone (its hangup events were sent by the caller of this)."""
        if not ch.hungup:
            self._finish(ch, self.cause)

    def _finish(self, ch: Channel, cause: int) -> None:
        if not any(g.is_set() for g in self.gone.values()):
            self.cause = cause
        ch.hungup = True
        self.gone[ch.side].set()
        gone_at = self.gone_at[ch.side] = self.nominal[ch.side]
        peer_until = self.waiting_until[3 - ch.side]
        waker = self.wakers[3 - ch.side]
        # a peer still playing what ends before this hangup on the timeline plays it to the end
        if waker is not None and (gone_at is None or peer_until is None or peer_until > gone_at):
            _resolve(waker, False)
        self.pbx.unregister(ch)
        if all(g.is_set() for g in self.gone.values()):
            self.finished.set()
