"""What the web app is built from: its settings and its collaborators (all typed, no globals)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fastapi import APIRouter
from sqlalchemy.engine import Engine

from voicemail.audit.service import Investigations
from voicemail.audit.store import AuditLog
from voicemail.config import Settings, site_names
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.errors import InvalidInput
from voicemail.domain.mailbox import MailboxService
from voicemail.domain.models import MailboxRef
from voicemail.services.call_history import DeskSignIns
from voicemail.services.phone_pins import PinService
from voicemail.web.accounts_store import AccountStore
from voicemail.web.new_message_feed import NewMessageFeed
from voicemail.web.ratelimit import RateLimiter
from voicemail.web.sessions_store import SessionStore

# A status probe: returns (ok, short detail). Must be quick and never raise.
Probe = Callable[[], tuple[bool, str]]


@dataclass(frozen=True)
class WebSettings:
    base_url: str = "http://localhost:8080"
    cookie_secure: bool = True
    cookie_samesite: str = "lax"
    session_idle: float = 1800.0
    session_absolute: float = 43200.0
    lockout_threshold: int = 5
    lockout_minutes: float = 15.0
    signin_rate_limit: int = 20
    signin_rate_window: float = 300.0
    allowed_origins: tuple[str, ...] = ()
    default_timezone: str = "UTC"
    max_body_bytes: int = 1_048_576  # request bodies above this are refused (413) before they are read
    inbox_poll_seconds: int = 25  # an open inbox's request for new messages waits this long at most (0 = never)
    pbx_timezone: str = "UTC"  # the zone of the CDRs' StartTime (the phone system's clock)
    # --- investigation pages ---
    audit_signing_key: str = ""  # the audit chain is verified against this key's public half
    audit_checkpoint_file: str = ""  # shipped checkpoints, checked too when set
    audit_public_key: str = ""  # when set, the chain is verified with this PEM instead (no private key read)
    # --- Outlook add-in ---
    outlook_frame_ancestors: tuple[str, ...] = ()  # origins that may frame /outlook/taskpane (none: no one)
    outlook_token_seconds: float = 3600.0  # lifetime of the add-in's bearer token
    # --- several sites: pages name a message's site only when there is more than one ---
    sites: tuple[str, ...] = ()  # every configured site, the default one first
    default_site: str = "default"

    def site_of(self, mailbox: MailboxRef) -> str:
        """The site to show beside a mailbox: its name with several sites, "" with one."""
        return (mailbox.site or self.default_site) if len(self.sites) > 1 else ""

    @property
    def site_names(self) -> tuple[str, ...]:
        """Every configured site's name, the default one first (one site: just the default one)."""
        return self.sites or (self.default_site,)

    def site_name(self, mailbox: MailboxRef) -> str:
        """The name of a mailbox's site, always (the API names it even with one site)."""
        return mailbox.site or self.default_site

    def site_of_request(self, name: str) -> str:
        """A site a request names, as a MailboxRef holds it: "" for the default site (also when none is
        named), else its name. InvalidInput (400) for a site that is not configured."""
        if not name or name == self.default_site:
            return ""
        if name not in self.site_names:
            raise InvalidInput(f"unknown site {name[:64]!r}; the configured sites are {', '.join(self.site_names)}")
        return name

    @classmethod
    def from_settings(cls, s: Settings) -> WebSettings:
        return cls(base_url=s.web_base_url, cookie_secure=s.web_cookie_secure, cookie_samesite=s.web_cookie_samesite,
                   session_idle=s.web_session_idle, session_absolute=s.web_session_absolute,
                   lockout_threshold=s.web_lockout_threshold, lockout_minutes=s.web_lockout_minutes,
                   signin_rate_limit=s.web_signin_rate_limit, signin_rate_window=s.web_signin_rate_window,
                   allowed_origins=s.web_allowed_origins, default_timezone=s.default_timezone,
                   max_body_bytes=s.web_max_body_bytes,
                   inbox_poll_seconds=s.web_inbox_poll_seconds, pbx_timezone=s.pbx_timezone,
                   audit_signing_key=s.audit_signing_key, audit_checkpoint_file=s.audit_checkpoint_file,
                   audit_public_key=s.audit_public_key, outlook_frame_ancestors=s.outlook_frame_ancestors,
                   outlook_token_seconds=s.outlook_token_minutes * 60.0, sites=site_names(s),
                   default_site=s.site_name)


@dataclass
class WebDeps:
    settings: WebSettings
    engine: Engine
    accounts: AccountStore
    sessions: SessionStore
    audit: AuditLog
    mailbox: MailboxService
    limiter: RateLimiter
    probes: Mapping[str, Probe] = field(default_factory=dict)
    extra_routers: tuple[APIRouter, ...] = ()  # e.g. PIV / OIDC sign-in, added by the wiring
    signin_links: tuple[tuple[str, str], ...] = ()  # (label, path) of other sign-in methods, on the sign-in page
    # New pre-sign-in sessions per client address (each is a database row until it expires).
    presignin_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(60, 300))
    clock: Callable[[], float] = time.time
    # --- investigation pages: None = those pages answer 404 ---
    investigations: Investigations | None = None
    messages: SqlMessageStore | None = None  # evidence requests check that the messages are sealed
    # --- open inboxes waiting for new messages (None: the request answers at once) ---
    feed: NewMessageFeed | None = None
    # --- telephone menu: the owner's phone PIN on the settings page (None = no PIN form) ---
    pins: PinService | None = None
    # --- extension mobility: the viewer's desk-phone sign-ins on the call-history page (None = not shown) ---
    desk_signins: DeskSignIns | None = None
