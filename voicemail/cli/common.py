"""What every `voicemail` command shares: logging set-up, the one error mapping, the --config option.

Configuration and keyring problems print one line and exit 2; other domain errors print one line and
exit 1.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from voicemail.config import Settings, load_settings
from voicemail.domain.errors import ConfigError, KeyringError, VoicemailError

F = TypeVar("F", bound=Callable[..., Any])

def setup_logging(level: str, fmt: str = "text") -> None:
    """One redacting handler on stderr, text or JSON lines (voicemail.logs)."""
    from voicemail.logs import setup_logging as setup

    setup(level, fmt)
    # Alembic narrates every migration step at INFO; a command's output should come first.
    if level.upper() != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)


def handle_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, KeyringError) as exc:
            click.echo(f"voicemail: {exc}", err=True)
            sys.exit(2)
        except VoicemailError as exc:
            click.echo(f"voicemail: {exc}", err=True)
            sys.exit(1)
    return wrapper  # type: ignore[return-value]


config_option = click.option("--config", "config_file", type=click.Path(dir_okay=False),
                             envvar="VOICEMAIL_CONFIG", help="TOML settings file (env VOICEMAIL_CONFIG).")


site_option = click.option("--site", default=None, metavar="NAME",
                           help="The site (Asterisk) to serve: site_name or a [[sites]] name (env VOICEMAIL_SITE; "
                           "default: the default site).")


def settings_from(config_file: str | None, **overrides: Any) -> Settings:
    settings = load_settings(config_file, overrides=overrides)
    setup_logging(settings.log_level, settings.log_format)
    return settings



@contextlib.contextmanager
def progress(label: str, *, rate: bool = False) -> Iterator[Callable[[int], Callable[[int], None]]]:
    """A progress bar on standard error (count and time left; drawn only on a terminal). The service is
    handed a factory it calls with the total once known; the factory returns the bar's update function.
    ``rate``: the bar also shows items per second since the start."""
    with contextlib.ExitStack() as stack:
        def start(total: int) -> Callable[[int], None]:
            bar = stack.enter_context(click.progressbar(
                length=max(total, 1), label=label, show_pos=True, show_eta=True, file=sys.stderr,
                item_show_func=(lambda shown: shown) if rate else None))
            if not rate:
                return bar.update
            began, done = time.monotonic(), [0]

            def update(n: int) -> None:
                done[0] += n
                per_second = done[0] / max(time.monotonic() - began, 1e-6)
                bar.update(n, f"{per_second:.0f}/s")
            return update
        yield start
