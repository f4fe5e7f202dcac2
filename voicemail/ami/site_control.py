"""The mailbox actions of the web inbox and the shredder on the Asterisk a mailbox lives on.

With several sites, mailbox 1001@default exists on each Asterisk; a move, a folder lookup or a removal
must reach the Asterisk of the message's site, never another one that has a mailbox of the same name.
``SiteMailboxControl`` picks the control of ``mailbox.site`` (empty: the default site); the spool is read
only for the site whose spool this process has (``SiteSpool``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from voicemail.domain.errors import AmiError
from voicemail.domain.models import MailboxRef, SpoolMessage


class MailboxControl(Protocol):
    def folder_of(self, mailbox: MailboxRef, msg_id: str) -> str | None: ...

    def move(self, mailbox: MailboxRef, msg_id: str, from_folder: str, to_folder: str) -> None: ...

    def move_from(self, mailbox: MailboxRef, msg_id: str, listed: str, to_folder: str) -> str | None: ...

    def remove(self, mailbox: MailboxRef, msg_id: str) -> bool: ...


class SpoolLookup(Protocol):
    def find(self, mailbox: MailboxRef, msg_id: str, hint: tuple[str, int] | None = None) -> SpoolMessage | None: ...

    def is_placeholder(self, message: SpoolMessage, fmt: str) -> bool: ...


class SiteMailboxControl:
    """``controls``: each site's control by site name; ``default_site``: the site a MailboxRef without one
    names. A site without a control (no AMI secret configured) refuses with AmiError."""

    def __init__(self, controls: Mapping[str, MailboxControl], default_site: str) -> None:
        self._controls = dict(controls)
        self._default_site = default_site

    def _of(self, mailbox: MailboxRef) -> MailboxControl:
        site = mailbox.site or self._default_site
        control = self._controls.get(site)
        if control is None:
            raise AmiError(f"no AMI connection is configured for site {site!r}")
        return control

    def folder_of(self, mailbox: MailboxRef, msg_id: str) -> str | None:
        return self._of(mailbox).folder_of(mailbox, msg_id)

    def move(self, mailbox: MailboxRef, msg_id: str, from_folder: str, to_folder: str) -> None:
        self._of(mailbox).move(mailbox, msg_id, from_folder, to_folder)

    def move_from(self, mailbox: MailboxRef, msg_id: str, listed: str, to_folder: str) -> str | None:
        return self._of(mailbox).move_from(mailbox, msg_id, listed, to_folder)

    def remove(self, mailbox: MailboxRef, msg_id: str) -> bool:
        return self._of(mailbox).remove(mailbox, msg_id)


class ForwardingControl(Protocol):
    def user(self, mailbox: MailboxRef) -> Any: ...

    def folder_of(self, mailbox: MailboxRef, msg_id: str) -> str | None: ...

    def forward(self, source: MailboxRef, folder: str, msg_id: str, to: MailboxRef) -> bool: ...


class SiteForwardControl:
    """Forwarding on the Asterisk of the mailboxes' site (VoicemailForward copies within one server): the
    recipient's look-up, the source's folder and the forward itself go to that site's control. A site
    without a control refuses with AmiError; two mailboxes of different sites are refused."""

    def __init__(self, controls: Mapping[str, ForwardingControl], default_site: str) -> None:
        self._controls = dict(controls)
        self._default_site = default_site

    def _of(self, mailbox: MailboxRef) -> ForwardingControl:
        site = mailbox.site or self._default_site
        control = self._controls.get(site)
        if control is None:
            raise AmiError(f"no AMI connection is configured for site {site!r}")
        return control

    def user(self, mailbox: MailboxRef) -> Any:
        return self._of(mailbox).user(mailbox)

    def folder_of(self, mailbox: MailboxRef, msg_id: str) -> str | None:
        return self._of(mailbox).folder_of(mailbox, msg_id)

    def forward(self, source: MailboxRef, folder: str, msg_id: str, to: MailboxRef) -> bool:
        if (source.site or self._default_site) != (to.site or self._default_site):
            raise AmiError("VoicemailForward copies within one Asterisk: the mailboxes are on different sites")
        return self._of(source).forward(source, folder, msg_id, to)


class SiteSpool:
    """The spool of the site this process serves; a mailbox of another site is not found in it."""

    def __init__(self, spool: SpoolLookup, served_site: str, default_site: str) -> None:
        self._spool = spool
        self._served = served_site
        self._default_site = default_site

    def find(self, mailbox: MailboxRef, msg_id: str, hint: tuple[str, int] | None = None) -> SpoolMessage | None:
        if (mailbox.site or self._default_site) != self._served:
            return None
        return self._spool.find(mailbox, msg_id, hint)

    def is_placeholder(self, message: SpoolMessage, fmt: str) -> bool:
        """For a message ``find`` found (so of the served site's spool)."""
        return self._spool.is_placeholder(message, fmt)
