"""Extension mobility against the stand-in: scripted desk phones (lab timing) call
AGI(agi:async,extension-mobility,<device>) (context ``vmhotdesk``); the real driver, PIN service, AstDB
actions over AMI and the hotdesk_sessions table answer. AstDB is read back with DBGet, as the
dialplan would read it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.phone.harness import ALICE_BOX, PIN, PhoneSite, caller, phone_site
from voicemail.ami.astdb import db_get, db_put
from voicemail.ami.client import AmiClient
from voicemail.audit.store import AuditLog
from voicemail.phone.tables import hotdesk_sessions
from voicemail.phone.wiring import hotdesk_service, phone_menu, run_hotdesk_expiry

DESK = "SEP001122334455"
OTHER = "SEP001122334456"
FAMILY = "voicemail-em"

CALLERS = {
    "signin": caller((1.6, "1001#"), (4.6, f"{PIN}#"), hangup_at=16),
    "signout": caller((1.2, "1"), hangup_at=10),
    "stay": caller(hangup_at=40),  # says nothing when offered the sign-out
    "wrong3": caller((1.6, "1001#"), (4.6, "111111#"), (8.6, "1001#"), (11.6, "222222#"), (15.6, "1001#"),
                     (18.6, "333333#"), hangup_at=30),
    "hangup-ext": caller(hangup_at=1.0),  # during the extension prompt
    "hangup-pin": caller((1.6, "1001#"), hangup_at=3.5),  # during the PIN prompt
    "hangup-pin-typed": caller((1.6, "1001#"), (4.6, f"{PIN[:3]}"), hangup_at=5.8),  # PIN half typed
}


class Desks:
    """Calls into ``vmhotdesk`` over one AMI connection, with the hot-desk service on a test clock."""

    def __init__(self, site: PhoneSite) -> None:
        self.site = site
        self.now = [time.time()]
        self.calls: dict[str, list[str]] = {}

    async def _client(self) -> AmiClient:
        box = self.site.box
        client = AmiClient("127.0.0.1", box.site.port, "voicemail", box.site.secret, ping_interval=0)
        await client.connect()
        return client

    def run(self, calls: list[tuple[str, str]], *, expire_after: float | None = None,
            preset: dict[str, str] | None = None, timeout: float = 90) -> list[list[str]]:
        return asyncio.run(self._run(calls, expire_after, preset or {}, timeout))

    async def _run(self, calls: list[tuple[str, str]], expire_after: float | None, preset: dict[str, str],
                   timeout: float) -> list[list[str]]:
        s, c = self.site.settings, self.site.box.container
        client = await self._client()
        for device, value in preset.items():
            await db_put(client, FAMILY, device, value)
        assert c.mailboxes is not None and c.pins is not None
        audit = AuditLog(c.engine)
        hotdesk = hotdesk_service(s, client, c.pins, audit, c.engine, clock=lambda: self.now[0])
        sent: dict[str, list[str]] = {}
        driver = phone_menu(s, client, c.mailboxes, c.pins, audit, c.engine, hotdesk=hotdesk,
                            on_sent=lambda ch, cmd: sent.setdefault(ch, []).append(cmd))
        driver.start()
        expiry: asyncio.Task[None] | None = None
        try:
            for script, device in calls:
                await client.action("Originate", [("Channel", f"Local/{script}@vmphone/n"), ("Context", "vmhotdesk"),
                                                  ("Exten", device), ("Priority", "1"), ("Async", "true")])
                async with asyncio.timeout(timeout):  # one call after the other: each sees the last one's state
                    while not any(ch.startswith(f"Local/{script}@") for ch in sent) or driver.sessions:
                        await asyncio.sleep(0.05)
            if expire_after is not None:
                self.now[0] += expire_after
                expiry = asyncio.create_task(run_hotdesk_expiry(*hotdesk, 0.1))
                async with asyncio.timeout(10):
                    while await db_get(client, FAMILY, DESK) is not None:
                        await asyncio.sleep(0.05)
                    while not any(e.action == "hotdesk.signout" for e in audit.iter_all()):
                        await asyncio.sleep(0.05)
            self.astdb = {d: await db_get(client, FAMILY, d) for d in (DESK, OTHER)}
        finally:
            if expiry is not None:
                expiry.cancel()
            await driver.close()
            await client.close()
        by_script = {ch.split("@")[0].removeprefix("Local/"): cmds for ch, cmds in sent.items()}
        self.calls.update(by_script)
        return [by_script[script] for script, _ in calls]

    def events(self, *prefixes: str) -> list[tuple[str, str, dict[str, object]]]:
        return [(e.actor, e.action, json.loads(e.details))
                for e in AuditLog(self.site.box.container.engine).iter_all() if e.action.startswith(prefixes)]

    def rows(self) -> list[tuple[str, str, str, bool]]:
        with self.site.box.container.engine.connect() as conn:
            return [(r.device, f"{r.mailbox}@{r.context}", r.ended_by, r.signed_out_at is None)
                    for r in conn.execute(select(hotdesk_sessions).order_by(hotdesk_sessions.c.id))]


@pytest.fixture
def desks(tmp_path: Path) -> Iterator[Desks]:
    with phone_site(tmp_path / "site", CALLERS, phone_pin_max_failures=3, phone_menu_wait=3.0) as site:
        site.settings = replace(site.settings, phone_trusted_contexts=("vmmenu", "vmhotdesk"))
        yield Desks(site)


GOODBYE = ['STREAM FILE vm-goodbye ""', "HANGUP"]


def test_sign_in_routes_the_extension_to_the_desk_and_sign_out_removes_it(desks: Desks) -> None:
    signin, stay, signout = desks.run([("signin", DESK), ("stay", DESK), ("signout", DESK)])
    assert signin == ["GET DATA vm-extension 5000 20", "GET DATA vm-password 5000 20",
                      'STREAM FILE auth-thankyou ""', 'SAY DIGITS 1001 ""', *GOODBYE]
    offer = ['STREAM FILE vm-extension "0123456789*#"', 'SAY DIGITS 1001 "0123456789*#"',
             'STREAM FILE vm-press "0123456789*#"', 'SAY DIGITS 1 "0123456789*#"']
    assert stay == [*offer, "WAIT FOR DIGIT 3000"] * 3 + GOODBYE
    assert signout[:2] == offer[:2] and signout[-3:] == ['STREAM FILE auth-thankyou ""', *GOODBYE]
    assert desks.astdb == {DESK: None, OTHER: None}
    assert desks.rows() == [(DESK, "1001@default", "caller", False)]
    events = desks.events("hotdesk.")
    assert [(a, act, d["device"]) for a, act, d in events] == [
        ("phone:1001@default", "hotdesk.signin", DESK), ("phone:1001@default", "hotdesk.signout", DESK)]
    assert events[1][2]["ended_by"] == "caller"
    assert [d.get("result") for _a, _act, d in desks.events("phone.signin")] == [None]  # one good PIN, audited


def test_a_signed_in_desk_stays_routed_until_signed_out(desks: Desks) -> None:
    desks.run([("signin", DESK)])
    assert desks.astdb == {DESK: "1001", OTHER: None}
    assert desks.rows() == [(DESK, "1001@default", "", True)]


def test_wrong_pins_lock_the_mailbox_and_nothing_is_written_to_astdb(desks: Desks) -> None:
    wrong, after = desks.run([("wrong3", DESK), ("signin", DESK)])
    assert wrong.count('STREAM FILE vm-incorrect ""') == 3 and wrong[-2:] == GOODBYE
    assert 'STREAM FILE auth-thankyou ""' not in after  # the right PIN does not pass the lock
    assert after[:4] == ["GET DATA vm-extension 5000 20", "GET DATA vm-password 5000 20",
                         'STREAM FILE vm-incorrect ""', "GET DATA vm-extension 5000 20"]
    assert desks.astdb == {DESK: None, OTHER: None}
    assert desks.rows() == []
    assert desks.events("hotdesk.") == []
    actions = [(act, d.get("result")) for _a, act, d in desks.events("phone.signin", "phone.lockout")]
    assert actions == [("phone.signin", "wrong PIN")] * 3 + [("phone.lockout", None), ("phone.signin", "locked")]


def test_hanging_up_at_any_prompt_writes_nothing(desks: Desks) -> None:
    ext, pin, typed = desks.run([("hangup-ext", DESK), ("hangup-pin", DESK), ("hangup-pin-typed", DESK)])
    assert ext == ["GET DATA vm-extension 5000 20"]
    assert pin == typed == ["GET DATA vm-extension 5000 20", "GET DATA vm-password 5000 20"]
    assert desks.astdb == {DESK: None, OTHER: None}
    assert desks.rows() == []
    assert desks.events("hotdesk.", "phone.signin", "phone.lockout") == []  # no PIN was even checked


def test_signing_in_on_an_occupied_desk_offers_sign_out_of_the_other_user(desks: Desks) -> None:
    [stay] = desks.run([("stay", OTHER)], preset={OTHER: "1002"})
    assert stay[:2] == ['STREAM FILE vm-extension "0123456789*#"', 'SAY DIGITS 1002 "0123456789*#"']
    assert desks.astdb[OTHER] == "1002"  # silence changes nothing


def test_sign_ins_older_than_the_limit_are_signed_out_by_the_periodic_job(desks: Desks) -> None:
    max_hours = desks.site.settings.hotdesk_max_hours
    desks.run([("signin", DESK)], expire_after=max_hours * 3600 + 1)
    assert desks.astdb == {DESK: None, OTHER: None}
    assert desks.rows() == [(DESK, "1001@default", "expired", False)]
    [(_a, _act, details)] = desks.events("hotdesk.signout")
    assert details["ended_by"] == "expired" and details["mailbox"] == str(ALICE_BOX)


def test_a_desk_call_from_an_untrusted_context_is_refused(tmp_path: Path) -> None:
    with phone_site(tmp_path / "site", CALLERS) as site:  # vmhotdesk is not a trusted context here
        desks = Desks(site)
        [call] = desks.run([("signin", DESK)])
    assert call == ['STREAM FILE vm-sorry ""', *GOODBYE]
    assert desks.astdb == {DESK: None, OTHER: None} and desks.rows() == []
