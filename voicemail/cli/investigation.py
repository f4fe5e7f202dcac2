"""Helpers shared by the investigation commands (audit, keys init-signing, roles, cases, holds, evidence, CDR):
the acting person, a migrated engine, the signing key, dates, and a wrapper that opens Investigations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import Engine

from voicemail.audit.access import Actor
from voicemail.audit.context import cli_actor, cli_source
from voicemail.audit.service import Investigations
from voicemail.audit.signing import SigningKey
from voicemail.cli.common import config_option, handle_errors, settings_from
from voicemail.config import Settings
from voicemail.domain.errors import InvalidInput

actor_option = click.option("--actor", default=None, help="Who acts (default: the operating-system account).")


def actor_of(name: str | None) -> Actor:
    return Actor(cli_actor(name), cli_source())


def migrated_engine(settings: Settings) -> Engine:
    from voicemail.db.engine import make_engine
    from voicemail.db.migrate import upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine, settings.site_name)
    return engine


def signing_key_of(settings: Settings) -> SigningKey:
    return SigningKey.load(Path(settings.audit_signing_key))


def epoch_of(text: str | None) -> int | None:
    if text is None:
        return None
    import datetime as dt

    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"not an ISO date/time: {text!r}") from None
    return int((value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp())


def with_investigations(func: Callable[..., Any]) -> Callable[..., Any]:
    """A command body ``func(inv, settings, **kwargs)`` run with an Investigations on the configured
    database, with the usual ``--config`` option and error mapping."""
    def wrapper(config_file: str | None, **kwargs: Any) -> Any:
        settings = settings_from(config_file)
        engine = migrated_engine(settings)
        try:
            return func(Investigations(engine, default_site=settings.site_name), settings, **kwargs)
        finally:
            engine.dispose()
    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return handle_errors(config_option(wrapper))


