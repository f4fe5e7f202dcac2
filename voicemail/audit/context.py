"""Who and from where, for acts done on the command line (the web adds its signed-in user later)."""

from __future__ import annotations

import getpass
import socket


def cli_actor(explicit: str | None = None) -> str:
    """The operating-system account running the command, or an explicitly named actor."""
    if explicit:
        return explicit.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "uid-unknown"


def cli_source() -> str:
    """From where: the host, and the operating-system account (which may differ from --actor)."""
    return f"cli:{cli_actor()}@{socket.gethostname()}"
