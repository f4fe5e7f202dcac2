"""AsteriskStandin: an asyncio TCP server that speaks AMI like the lab's Asterisk 22.10.1 and writes real
app_voicemail spool files. Used by ``voicemail demo`` and the tests (no real Asterisk runs here)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from voicemail.domain.errors import InvalidInput
from voicemail.standin import audio
from voicemail.standin.call import Call
from voicemail.standin.channel import Party, parse_callerid
from voicemail.standin.clock import Clock, Timing, WallClock
from voicemail.standin.config import StandinConfig, is_plain_name
from voicemail.standin.dialplan import agi_arguments
from voicemail.standin.manager import Session
from voicemail.standin.originate import OriginateFailed, OriginateRequest, start
from voicemail.standin.pbx import Pbx
from voicemail.standin.programs import VMLEAVE, Program, vmleave
from voicemail.standin.wire import Event

log = logging.getLogger(__name__)


def _c_string(text: str | None) -> str | None:
    """A channel's caller name/number is a C string: a NUL ends it."""
    if text is None:
        return None
    return text.split("\x00", 1)[0] or None


class AsteriskStandin:
    """The stand-in. ``await start()`` binds (``port`` then gives the port); ``await stop()`` ends it."""

    def __init__(self, config: StandinConfig, *, clock: Clock | None = None, timing: Timing | None = None) -> None:
        """``clock``/``timing`` override the wall clock and ``config.timing`` (replays of lab timelines)."""
        self.config = config.validated()
        self.pbx = Pbx(self.config, self.publish, clock or WallClock())
        if timing is not None:
            self.pbx.timing = timing
        self.sessions: set[Session] = set()
        # what each AMI session did, in order: (monotonic seconds, session id, lower-case action or "closed");
        # tests read it to show which sessions were acting, and when
        self.activity: deque[tuple[float, str, str]] = deque(maxlen=10000)
        self.paused = False
        self.resumed = asyncio.Event()
        self.resumed.set()
        self._server: asyncio.Server | None = None
        self._port = 0
        self._handlers: set[asyncio.Task[None]] = set()

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.config.spool_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(audio.warm)
        self.resumed = asyncio.Event()
        if not self.paused:
            self.resumed.set()
        self._server = await asyncio.start_server(self._serve, self.config.host, self.config.port,
                                                  limit=2**16)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("standin: AMI listening on %s:%d", self.config.host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        for task in list(self.pbx.tasks) + list(self._handlers):
            task.cancel()
        for task in list(self.pbx.tasks) + list(self._handlers):
            with contextlib.suppress(BaseException):
                await task
        for call in list(self.pbx.calls):
            call.finished.set()  # wake leave_message callers: their call will never end now
        self.pbx.calls.clear()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    @property
    def port(self) -> int:
        return self._port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        self.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await session.run()
        except asyncio.CancelledError:
            pass  # stop(): asyncio's stream callback must not see a cancelled handler task
        finally:
            self.sessions.discard(session)
            if task is not None:
                self._handlers.discard(task)

    # --- events and sessions -------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        for session in list(self.sessions):
            session.deliver(event)

    async def drop_connections(self) -> None:
        """Abruptly close every AMI session (for tests of reconnecting clients)."""
        for session in list(self.sessions):
            session.abort()
        await asyncio.sleep(0)

    def pause_replies(self, paused: bool) -> None:
        """Stop (True) or resume (False) answering: no reading, no replies, events held back."""
        self.paused = paused
        if paused:
            self.resumed.clear()
        else:
            for session in list(self.sessions):
                session.flush_held()
            self.resumed.set()

    def session_count(self) -> int:
        """Open AMI sessions that have logged in."""
        return sum(1 for s in self.sessions if not s.closed and s.authenticated)

    # --- leaving messages ----------------------------------------------------------------------------

    async def leave_message(self, mailbox: str, callerid: str | None = None, *, caller_context: str = "vmlab",
                            exten: str = "play", urgent: bool = False, audio: bytes | None = None) -> str | None:
        """Run the call an Originate would (events to every session with events on, files written) and
        return the new message's msg_id, or None when the mailbox folder is full.

        ``mailbox``: ``1001`` or ``1001@default``. ``caller_context``/``exten``: where the call entered
        (the message file's ``context=``/``exten=``); ``vmleave-int|ext|anon`` run that lab dialplan
        (which sets the caller id itself), any other context behaves like ``vmlab/play``.
        ``callerid`` is taken as a channel would hold it: CR/LF become blanks, a NUL ends the name/number.
        ``audio``: the recording; a RIFF file is stored byte for byte as the ``wav`` format's file (other
        formats are derived), raw bytes are taken as 16-bit 8 kHz mono samples.
        """
        user = self.pbx.user_by_spec(mailbox)
        if user is None:
            raise InvalidInput("leave_message: no such mailbox in the stand-in's voicemail.conf")
        if not (is_plain_name(caller_context) and is_plain_name(exten)):
            raise InvalidInput("leave_message: caller_context and exten must be plain names")
        parsed = parse_callerid((callerid or "").replace("\r", " ").replace("\n", " "))
        caller = Party(_c_string(parsed.num), _c_string(parsed.name))
        options = "suU" if urgent else "su"
        if caller_context in VMLEAVE:
            req = OriginateRequest(channel="Local/play@vmlab/n", context=caller_context, exten=user.mailbox,
                                   caller=caller, audio=audio)
            call = self._start(req, leave=vmleave(caller_context, user.mailbox, options))
        else:
            req = OriginateRequest(channel=f"Local/{exten}@{caller_context}/n", application="VoiceMail",
                                   data=f"{user.mailbox}@{user.context},{options}", caller=caller,
                                   lenient=True, audio=audio)
            call = self._start(req)
        await call.finished.wait()
        return call.result.msg_id

    # --- phones calling in --------------------------------------------------------------------------

    async def call_in(self, caller: str, *, context: str = "vmmenu", exten: str = "menu",
                      callerid: str | None = None) -> str:
        """A phone calls the voicemail menu: the call a dialplan would hand to Async AGI, without an
        Originate (so no OriginateResponse). ``caller`` is a vmphone caller (the lab's or one of
        ``StandinConfig.callers``), ``context``/``exten`` an entry point (``vmmenu``/``1001``…).
        Returns the name of the AGI half (``Local/<caller>@vmphone-XXXXXXXX;1``) once its
        AsyncAGIStart has been sent; InvalidInput when there is no such caller or entry point."""
        if not (is_plain_name(caller) and is_plain_name(context) and is_plain_name(exten)):
            raise InvalidInput("call_in: caller, context and exten must be plain names")
        if agi_arguments(context, exten) is None:
            raise InvalidInput("call_in: no such Async AGI entry point")
        parsed = parse_callerid((callerid or "").replace("\r", " ").replace("\n", " "))
        req = OriginateRequest(channel=f"Local/{caller}@vmphone/n", context=context, exten=exten,
                               caller=Party(_c_string(parsed.num), _c_string(parsed.name)), announce=False)
        try:
            call = start(self.pbx, req)
        except OriginateFailed:
            raise InvalidInput("call_in: no such caller in the vmphone context") from None
        started = asyncio.ensure_future(call.agi_started.wait())
        ended = asyncio.ensure_future(call.finished.wait())
        try:
            await asyncio.wait({started, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            started.cancel()
            ended.cancel()
        return call.one.name

    def _start(self, req: OriginateRequest, leave: Program | None = None) -> Call:
        try:
            return start(self.pbx, req, one_program=leave)
        except OriginateFailed as exc:
            raise InvalidInput(f"leave_message: {exc}") from None
