"""Helpers for the phone-menu tests: call the menu from a scripted caller and run AGI commands."""

from __future__ import annotations

from urllib.parse import unquote

from tests.integration.standin.standin_client import Ami, Frame, events


def call_menu(ami: Ami, caller: str, exten: str = "agi", context: str = "agilab",
              callerid: str = '"Alice Internal" <1001>', action_id: str = "o") -> tuple[str, list[Frame]]:
    """Originate ``Local/<caller>@vmphone/n`` into ``context``/``exten``; returns the AGI channel."""
    ami.send("Originate", ActionID=action_id, Channel=f"Local/{caller}@vmphone/n", Context=context, Exten=exten,
             Priority="1", CallerID=callerid, Async="true")
    frames = ami.take(lambda fs: bool(events(fs, "AsyncAGIStart")), timeout=10)
    return events(frames, "AsyncAGIStart")[0].get("Channel") or "", frames


def send_command(ami: Ami, channel: str, command: str, command_id: str) -> None:
    ami.send("AGI", ActionID=f"a-{command_id}", Channel=channel, Command=command, CommandID=command_id)


def command(ami: Ami, channel: str, text: str, command_id: str, timeout: float = 15) -> list[Frame]:
    """Run one AGI command and return every frame up to its AsyncAGIExec."""
    send_command(ami, channel, text, command_id)
    return ami.take(lambda fs: any(f.get("Event") == "AsyncAGIExec" and f.get("CommandId") == command_id
                                   for f in fs), timeout=timeout)


def result(frames: list[Frame], command_id: str) -> str:
    """The decoded AGI result line of ``command_id``."""
    done = next(f for f in frames if f.get("Event") == "AsyncAGIExec" and f.get("CommandId") == command_id)
    return unquote(done.get("Result") or "")


def env(frames: list[Frame]) -> dict[str, str]:
    text = unquote(events(frames, "AsyncAGIStart")[0].get("Env") or "")
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
