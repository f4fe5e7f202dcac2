"""Choose the sender by name (``VOICEMAIL_MAILER``): outbox now; ews, graph and smtp later.

Settings arrive as keyword arguments from the composition root; this module reads no environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from mailer.outbox import OutboxMailer
from mailer.rfc5322 import DEFAULT_MESSAGE_ID_DOMAIN
from voicemail.domain.errors import ConfigError
from voicemail.domain.ports import Mailer

MAILER_KINDS = ("outbox", "ews", "graph", "smtp")
_PLANNED = frozenset({"ews", "graph", "smtp"})


def _build_outbox(settings: Mapping[str, object]) -> Mailer:
    unknown = sorted(set(settings) - {"directory", "message_id_domain"})
    if unknown:
        raise ConfigError(f"VOICEMAIL_MAILER=outbox does not take the setting(s): {', '.join(unknown)}")
    directory = settings.get("directory")
    if not isinstance(directory, str | os.PathLike) or not os.fspath(directory):
        raise ConfigError("VOICEMAIL_MAILER=outbox needs the outbox directory (mail outbox_dir)")
    domain = settings.get("message_id_domain", DEFAULT_MESSAGE_ID_DOMAIN)
    if not isinstance(domain, str) or not domain:
        raise ConfigError("message_id_domain must be a domain name, e.g. voicemail.example.org")
    return OutboxMailer(Path(directory), message_id_domain=domain)


_BUILDERS: dict[str, Callable[[Mapping[str, object]], Mailer]] = {"outbox": _build_outbox}


def build_mailer(kind: str, **settings: object) -> Mailer:
    """Build the configured sender. Raises ConfigError for unknown or not-yet-available kinds."""
    name = kind.strip().lower() if isinstance(kind, str) else ""
    builder = _BUILDERS.get(name)
    if builder is not None:
        return builder(settings)
    if name in _PLANNED:
        raise ConfigError(
            f"VOICEMAIL_MAILER={name} is not available yet; use VOICEMAIL_MAILER=outbox "
            "(the ews, graph and smtp senders come in a later release)"
        )
    raise ConfigError(
        f"VOICEMAIL_MAILER={str(kind)[:20]!r} is unknown; choose one of {', '.join(MAILER_KINDS)}"
    )
