"""``Action: ListCommands`` (the captured list of Asterisk 22.10.1 with the lab's modules, q1) and the
few CLI commands ``Action: Command`` knows (``voicemail show users [for <context>]``, ``core show version``)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from voicemail.standin.config import VERSION_LINE
from voicemail.standin.pbx import Pbx

# app_voicemail.c HVSU_OUTPUT_FORMAT
USERS_FORMAT = "%-10s %-5s %-25s %-10s %6s"


@cache
def list_commands() -> tuple[str, ...]:
    text = resources.files("voicemail.standin").joinpath("templates/list_commands.txt").read_text("utf-8")
    return tuple(line for line in text.split("\n") if line)


def cli_output(pbx: Pbx, cmd: str) -> list[str]:
    """The lines a CLI command prints (each becomes an ``Output:`` header)."""
    low = [w.lower() for w in cmd.split()]
    if low[:3] == ["voicemail", "show", "users"]:
        users = list(pbx.config.mailboxes)
        if len(low) == 5 and low[3] == "for":
            users = [u for u in users if u.context.lower() == low[4]]
        if not users:
            return ["There are no voicemail users currently defined"]
        lines = [USERS_FORMAT % ("Context", "Mbox", "User", "Zone", "NewMsg")]
        for user in users:
            new, _ = pbx.spool.inboxcount(user.ident)
            lines.append(USERS_FORMAT % (user.context, user.mailbox, user.fullname, "", str(new)))
        lines.append(f"{len(users)} voicemail users configured.")
        return lines
    if low[:3] == ["core", "show", "version"]:
        return [VERSION_LINE]
    return [f"No such command '{cmd}' (type 'core show help {cmd}' for other possible commands)"]
