"""Choose the sender by name (``VOICEMAIL_MAILER``): outbox (the embedded default), ews, graph or smtp.

Settings arrive as keyword arguments from the composition root; this module reads no environment.
The EWS and Graph senders import their client libraries only when chosen.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mailer.outbox import OutboxMailer
from mailer.rfc5322 import DEFAULT_MESSAGE_ID_DOMAIN
from voicemail.domain.errors import ConfigError
from voicemail.domain.ports import Mailer

MAILER_KINDS = ("outbox", "ews", "graph", "smtp")


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


def _config(kind: str, config_cls: Any, settings: Mapping[str, object]) -> Any:
    """Build a sender's config dataclass from keyword settings; unknown or mistyped ones are refused."""
    names = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(settings) - set(names))
    if unknown:
        raise ConfigError(f"VOICEMAIL_MAILER={kind} does not take the setting(s): {', '.join(unknown)}")
    missing = sorted(name for name, f in names.items()
                     if name not in settings and f.default is dataclasses.MISSING)
    if missing:
        raise ConfigError(f"VOICEMAIL_MAILER={kind} needs the setting(s): "
                          f"{', '.join('VOICEMAIL_' + kind.upper() + '_' + name.upper() for name in missing)}")
    try:
        return config_cls(**settings)
    except TypeError as exc:  # a value of the wrong type (the composition root passes typed settings)
        raise ConfigError(f"VOICEMAIL_MAILER={kind}: a setting has the wrong type ({exc})") from None


def _build_ews(settings: Mapping[str, object]) -> Mailer:
    from mailer.ews import EwsConfig, EwsMailer

    return EwsMailer(_config("ews", EwsConfig, settings))


def _build_graph(settings: Mapping[str, object]) -> Mailer:
    from mailer.graph import GraphConfig, GraphMailer

    return GraphMailer(_config("graph", GraphConfig, settings))


def _build_smtp(settings: Mapping[str, object]) -> Mailer:
    from mailer.smtp import SmtpConfig, SmtpMailer

    return SmtpMailer(_config("smtp", SmtpConfig, settings))


_BUILDERS: dict[str, Callable[[Mapping[str, object]], Mailer]] = {
    "outbox": _build_outbox,
    "ews": _build_ews,
    "graph": _build_graph,
    "smtp": _build_smtp,
}


def build_mailer(kind: str, **settings: object) -> Mailer:
    """Build the configured sender. Raises ConfigError naming what is unknown, missing or invalid."""
    name = kind.strip().lower() if isinstance(kind, str) else ""
    builder = _BUILDERS.get(name)
    if builder is not None:
        return builder(settings)
    raise ConfigError(
        f"VOICEMAIL_MAILER={str(kind)[:20]!r} is unknown; choose one of {', '.join(MAILER_KINDS)}"
    )
