"""The first start of a site's listener on a spool that already holds a backlog.

`voicemail run` takes custody of every message in its site's spool and announces each one. On a site the
database has never served (no message, no import run, no listener lease of it) a spool holding more than
``first_start_backlog`` messages is years of old voicemail that `voicemail import` should take over
silently: the listener refuses to start instead of e-mailing every owner about every old message, unless
the operator asked it to announce them (``--announce-existing``). A stand-by or a restart is never
refused: the site then has messages on record, an import run or a lease.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from voicemail.domain.errors import ConfigError, VoicemailError


class FirstStartBacklog(VoicemailError):
    """The site's spool holds more than ``threshold`` messages and the site was never served."""

    def __init__(self, site: str, threshold: int) -> None:
        super().__init__(f"site {site}: its spool holds more than {threshold} messages and none is in custody")
        self.site = site
        self.threshold = threshold


@dataclass(frozen=True)
class FirstStartGuard:
    """``served_before(site)``: the database has served the site (voicemail.db.site_history);
    ``count_envelopes(limit)``: the spool's envelopes, counting stopped at ``limit``."""

    served_before: Callable[[str], bool]
    count_envelopes: Callable[[int], int]

    def check(self, site: str, threshold: int) -> None:
        """Raise FirstStartBacklog when starting would announce a backlog of more than ``threshold``
        messages on a site never served (``threshold`` 0: no check). The spool is counted only for a site
        never served, and only up to ``threshold + 1``. `--announce-existing` does not call this."""
        if threshold <= 0 or self.served_before(site):
            return
        try:
            found = self.count_envelopes(threshold + 1)
        except ConfigError:  # no spool root: the listener reports it as it always does
            return
        if found > threshold:
            raise FirstStartBacklog(site, threshold)
