"""The stand-in's shared state: configuration, clocks, counters, spool, MWI, live channels."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from voicemail.standin.astdb import AstDb
from voicemail.standin.channel import Channel, Ids
from voicemail.standin.clock import Clock, Timing
from voicemail.standin.config import StandinConfig, StandinMailbox
from voicemail.standin.mwi import Mwi
from voicemail.standin.spool import VoicemailSpool
from voicemail.standin.wire import Event

log = logging.getLogger(__name__)


class Pbx:
    """What every call and every manager action shares (one per stand-in, one event loop)."""

    def __init__(self, config: StandinConfig, publish: Callable[[Event], None], clock: Clock) -> None:
        self.config = config
        self.publish = publish
        self.clock = clock
        self.timing = Timing.named(config.timing)
        self.ids = Ids()
        self.spool = VoicemailSpool(config.spool_dir, config.extensions, config.maxmsg)
        self.mwi = Mwi(publish)
        self.astdb = AstDb()
        self.channels: dict[str, Channel] = {}
        self.agi: dict[str, Any] = {}  # channel name (lower case) -> AgiSession
        self.inprocess: dict[str, int] = {}
        self.live_pairs: dict[str, int] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.calls: set[Any] = set()  # live Call objects
        self.started = clock.time()

    def now(self) -> float:
        return self.clock.time()

    def find_user(self, context: str, mailbox: str) -> StandinMailbox | None:
        """``find_user``: context and mailbox compared case-insensitively; context defaults to default."""
        ctx = (context or "default").lower()
        box = mailbox.lower()
        for user in self.config.mailboxes:
            if user.context.lower() == ctx and user.mailbox.lower() == box:
                return user
        return None

    def user_by_spec(self, spec: str) -> StandinMailbox | None:
        """``1001@default`` or ``1001`` (then the context is ``default``, or the only one with it)."""
        box, at, context = spec.partition("@")
        if at:
            return self.find_user(context, box)
        found = self.find_user("default", box)
        if found is not None:
            return found
        matches = [u for u in self.config.mailboxes if u.mailbox.lower() == box.lower()]
        return matches[0] if len(matches) == 1 else None

    def inprocess_add(self, mailbox_id: str, delta: int) -> int:
        """``inprocess_count``: returns the count before the change."""
        before = self.inprocess.get(mailbox_id, 0)
        self.inprocess[mailbox_id] = max(0, before + delta)
        return before

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("standin: call task %s failed: %r", task.get_name(), task.exception())

    def register(self, ch: Channel) -> None:
        self.channels[ch.name.lower()] = ch

    def unregister(self, ch: Channel) -> None:
        self.channels.pop(ch.name.lower(), None)
        self.agi.pop(ch.name.lower(), None)
