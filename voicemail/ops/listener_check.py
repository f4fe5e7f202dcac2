"""`voicemail doctor --check listener`: which process listens to this site's Asterisk (the listener lease)."""

from __future__ import annotations

from voicemail.config import Settings, serving_site
from voicemail.ops.checks import CheckResult, failed, passed, skipped


def check_listener(settings: Settings) -> CheckResult:
    """The holder of the site's listener lease, its fencing token and how long it still holds (database clock)."""
    from pathlib import Path

    from sqlalchemy.exc import SQLAlchemyError

    from voicemail.config import sqlite_path
    from voicemail.db.engine import make_engine
    from voicemail.db.listener_lease import LeaseStore

    site = serving_site(settings)
    path = sqlite_path(settings.database_url)
    if path and not Path(path).is_file():
        return skipped("listener", "no database yet (see the database check)")
    engine = make_engine(settings.database_url)
    try:
        holder = LeaseStore(engine).current(site)
    except SQLAlchemyError as exc:
        return skipped("listener", f"lease not readable ({type(exc).__name__}; see the database check)")
    finally:
        engine.dispose()
    if holder is None:
        return skipped("listener", f"no `voicemail run` has listened for site {site!r} yet")
    if holder.seconds_left <= 0:
        return failed("listener", f"nobody listens for site {site!r}: the lease of {holder.holder} (token "
                      f"{holder.token}) lapsed {-holder.seconds_left:.0f} s ago; start `voicemail run`")
    return passed("listener", f"site {site!r} listened to by {holder.holder} (fencing token {holder.token}, "
                  f"{holder.seconds_left:.0f} s left on the lease)")
