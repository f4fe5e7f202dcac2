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



def _clock_text(seconds: float) -> str:
    """HH:MM:SS, with a day count in front past a day (as click shows the time left)."""
    t = int(seconds)
    days, t = divmod(t, 86_400)
    hours, t = divmod(t, 3600)
    text = f"{hours:02}:{t // 60:02}:{t % 60:02}"
    return f"{days}d {text}" if days else text


class RateBar:
    """A progress bar's update functions where some items need no work: ``__call__(n)`` counts ``n`` items
    worked on, ``skip(n)`` ``n`` items that needed none. Both move the bar (its count and percentage are of
    every item); the rate (items per second) and the time left come from the work of this run only, so
    items done by an earlier run or skipped in a moment neither inflate the rate nor shorten the time left.
    The time left assumes every remaining item needs work (an upper bound)."""

    def __init__(self, bar: Any, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._bar, self._total, self._clock = bar, max(total, 1), clock
        self._began = clock()
        self.worked = 0
        self.skipped = 0

    def __call__(self, n: int) -> None:
        self.worked += n
        self._bar.update(n, self.info())

    def skip(self, n: int) -> None:
        self.skipped += n
        self._bar.update(n, self.info())

    def info(self) -> str | None:
        """After the first second (earlier the rate is noise): the rate and, once there is work to go by,
        the time left."""
        elapsed = self._clock() - self._began
        if elapsed < 1.0:
            return None
        per_second = self.worked / elapsed
        rate = f"{per_second:.0f}/s"
        left = self._total - self.worked - self.skipped
        if not self.worked or left <= 0:
            return rate
        return f"{_clock_text(left / per_second)}  {rate}"


@contextlib.contextmanager
def progress(label: str) -> Iterator[Callable[[int], Callable[[int], None]]]:
    """A progress bar on standard error (count and time left; drawn only on a terminal). The service is
    handed a factory it calls with the total once known; the factory returns the bar's update function."""
    with contextlib.ExitStack() as stack:
        def start(total: int) -> Callable[[int], None]:
            return stack.enter_context(click.progressbar(
                length=max(total, 1), label=label, show_pos=True, show_eta=True, file=sys.stderr)).update
        yield start


@contextlib.contextmanager
def rate_progress(label: str) -> Iterator[Callable[[int], RateBar]]:
    """As ``progress``, also showing items per second; the factory returns a RateBar, whose ``skip``
    counts items that needed no work (the rate and the time left count only the work)."""
    with contextlib.ExitStack() as stack:
        def start(total: int) -> RateBar:
            bar = stack.enter_context(click.progressbar(
                length=max(total, 1), label=label, show_pos=True, show_eta=False, file=sys.stderr,
                item_show_func=lambda shown: shown))
            return RateBar(bar, total)
        yield start
