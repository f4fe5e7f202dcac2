""""Play on my phone" with several sites: a message is played by its own site's Asterisk.

Each site has its own ``PhonePlayback`` (its AMI connection places the call, to a device named by that
site's template, from a staging folder that site's Asterisk reads); all of them keep their calls in one
``CallBook``, so that a call's outcome is found whichever site placed it. A site that cannot place calls
from this host (no AMI secret here, no device template) is refused with the reason, in plain words.
"""

from __future__ import annotations

from collections.abc import Mapping

from voicemail.domain.errors import FeatureUnavailable
from voicemail.domain.phone_call import CallStatus
from voicemail.domain.records import MessageRecord
from voicemail.services.phone_calls import CallBook
from voicemail.services.phone_playback import PhonePlayback


class SitePhones:
    """``players``: each site's PhonePlayback by site name (sharing ``calls``); ``refusals``: why each other
    site cannot play; ``default_site``: the site a MailboxRef without one names."""

    def __init__(self, players: Mapping[str, PhonePlayback], refusals: Mapping[str, str], default_site: str,
                 calls: CallBook) -> None:
        self._players = dict(players)
        self._refusals = dict(refusals)
        self._default_site = default_site
        self.calls = calls

    def play(self, record: MessageRecord, caller_id: str = "") -> str:
        site = record.mailbox.site or self._default_site
        player = self._players.get(site)
        if player is None:
            raise FeatureUnavailable(self._refusals.get(site, f"no AMI connection is configured for site {site!r}"))
        return player.play(record, caller_id)

    def status(self, call_id: str) -> CallStatus | None:
        return self.calls.get(call_id)

    def sweep(self) -> int:
        """Remove every site's staging leftovers (``PhonePlayback.sweep``)."""
        return sum(player.sweep() for player in self._players.values())
