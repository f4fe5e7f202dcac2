"""The telephone menu against the stand-in: scripted callers (lab timing) call AGI(agi:async,
voicemail-menu[,MAILBOX]) and the real driver, mailbox services, PIN store and staging answer them."""

from __future__ import annotations

import asyncio
import grp
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.integration.mailbox.harness import MailboxSite, mailbox_site
from voicemail.ami.client import AmiClient
from voicemail.audit.store import AuditLog
from voicemail.config import Settings
from voicemail.domain.models import MailboxRef
from voicemail.phone.wiring import phone_menu, pin_service
from voicemail.services.phone_pins import Argon2PinHasher

ALICE_BOX = MailboxRef("default", "1001")
PIN = "583920"


@dataclass
class Sent:
    """One Action: AGI as the driver sent it: seconds since the call's first command, the command, and
    for a staged message what the file looked like at that moment."""

    at: float
    command: str
    staged: tuple[int, int] | None = None  # (mode, gid) of <path>.wav


@dataclass
class PhoneSite:
    box: MailboxSite
    settings: Settings
    calls: dict[str, list[Sent]] = field(default_factory=dict)

    @property
    def staging(self) -> Path:
        return Path(self.settings.phone_staging_dir)

    def staged_files(self) -> list[Path]:
        return sorted(self.staging.iterdir()) if self.staging.is_dir() else []

    def run_calls(self, originates: list[tuple[str, str]], timeout: float = 120,
                  meanwhile: tuple[float, Callable[[], object]] | None = None) -> list[list[Sent]]:
        """Originate ``Local/<caller>@vmphone/n`` into ``vmmenu``/``<exten>`` for each (caller, exten), all at
        once; return each call's commands (in the order given) once every call has ended. ``meanwhile``:
        (seconds after the first command, something to do then, in a thread)."""
        calls = asyncio.run(self._run(originates, timeout, meanwhile))
        self.wait_moves()
        return calls

    def wait_moves(self, timeout: float = 30) -> None:
        """Wait until Asterisk has carried out every folder move the calls decided (saves, heard messages)."""
        moves = self.box.container.moves
        assert moves is None or moves.wait_idle(timeout), "folder moves still pending"

    async def _run(self, originates: list[tuple[str, str]], timeout: float,
                   meanwhile: tuple[float, Callable[[], object]] | None) -> list[list[Sent]]:
        s, box = self.settings, self.box
        client = AmiClient("127.0.0.1", box.site.port, "voicemail", box.site.secret, ping_interval=0)
        await client.connect()
        calls: dict[str, list[Sent]] = {}
        starts: dict[str, float] = {}

        def on_sent(channel: str, command: str) -> None:
            t0 = starts.setdefault(channel, time.monotonic())
            staged = None
            if command.startswith("CONTROL STREAM FILE "):
                info = Path(command.split()[3] + ".wav").stat()
                staged = (stat.S_IMODE(info.st_mode), info.st_gid)
            calls.setdefault(channel, []).append(Sent(round(time.monotonic() - t0, 2), command, staged))

        assert box.container.mailboxes is not None and box.container.pins is not None
        driver = phone_menu(s, client, box.container.mailboxes, box.container.pins, AuditLog(box.container.engine),
                            box.container.engine, on_sent=on_sent)
        driver.start()
        try:
            channels: list[str] = []
            for n, (caller, exten) in enumerate(originates):
                await client.action("Originate", [("Channel", f"Local/{caller}@vmphone/n"), ("Context", "vmmenu"),
                                                  ("Exten", exten), ("Priority", "1"),
                                                  ("CallerID", '"Alice Internal" <1001>'), ("Async", "true")])
                channels.append(f"Local/{caller}@vmphone-{n:08x};1")
            async with asyncio.timeout(timeout):
                while len(calls) < len(originates) or driver.sessions:
                    if meanwhile is not None and starts and time.monotonic() - min(starts.values()) >= meanwhile[0]:
                        await asyncio.to_thread(meanwhile[1])
                        meanwhile = None
                    await asyncio.sleep(0.05)
        finally:
            await driver.close()
            await client.close()
        self.calls.update(calls)
        by_caller = {ch.split("@")[0].removeprefix("Local/"): sent for ch, sent in calls.items()}
        return [by_caller[caller] for caller, _ in originates]


def commands(sent: list[Sent]) -> list[str]:
    return [s.command for s in sent]


@contextmanager
def phone_site(root: Path, callers: dict[str, str], **settings: object) -> Iterator[PhoneSite]:
    with mailbox_site(root, f"sqlite:///{root / 'vm.db'}", standin={"timing": "lab", "callers": callers}) as box:
        group = grp.getgrgid(os.getgid()).gr_name
        s = replace(box.container.settings, phone_trusted_contexts=("vmmenu",), phone_staging_group=group,
                    **settings)  # type: ignore[arg-type]
        # argon2id with small parameters: several calls sign in at once on a busy test machine
        box.container.pins = pin_service(s, box.container.engine, AuditLog(box.container.engine),
                                         Argon2PinHasher(time_cost=1, memory_cost=1024, parallelism=1))
        box.container.pins.set_pin(ALICE_BOX, PIN, actor="test", source="test")
        yield PhoneSite(box, s)


def caller(*presses: tuple[float, str], hangup_at: float) -> str:
    """A stand-in caller script that makes each key sequence reach the menu at about the given menu
    second (seconds since the menu's first command): the caller's second 0 is ~0.5 s after it, a
    SendDTMF's first digit arrives 0.2 s after it starts and each further one 0.35 s later (q9)."""
    steps: list[str] = []
    t = 0.0
    for at, digits in presses:
        start = at - 0.7
        assert start >= t, f"keys {digits!r} at {at} overlap the previous ones"
        steps += [f"Wait({start - t:.2f})", f"SendDTMF({digits})"]
        t = start + 0.1 + 0.35 * len(digits)
    return ",".join([*steps, f"Wait({max(0.0, hangup_at - 0.5 - t):.2f})", "Hangup"])
