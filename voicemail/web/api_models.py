"""Response shapes of the REST API (they make /openapi.json precise; the routes return plain dicts)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MailboxOut(BaseModel):
    context: str
    mailbox: str
    site: str = Field(description="The Asterisk the mailbox is on (the default site's name with one site); "
                                  "the site= parameter of the mailbox's message list")
    qualified: str = Field(description="The mailbox as /api/v1/me names it: 1001@default on the default site, "
                                       "1001@default@branch on another")


class MessageOut(BaseModel):
    id: str
    mailbox: MailboxOut
    folder: str
    received_at: int
    duration: int
    urgent: bool
    caller_kind: str
    caller_name: str | None
    caller_number: str | None
    formats: list[str]
    playable: bool
    forwarded: bool = False  # a colleague forwarded it to this mailbox


class MessagePage(BaseModel):
    items: list[MessageOut]
    total: int
    offset: int
    limit: int


class CallOut(BaseModel):
    at: str
    direction: str
    other_party: str
    other_name: str
    duration: int
    billable_seconds: int
    disposition: str
    site: str | None = None  # with several sites: the Asterisk that reported the call


class CallPage(BaseModel):
    items: list[CallOut]
    total: int
    offset: int
    limit: int


class SessionOut(BaseModel):
    signed_in: bool
    username: str | None = None
    csrf_token: str | None = None
    detail: str | None = None  # why a sign-in failed (the same text for every failure)
    plays_on_phones: bool | None = None  # signed in: whether "Play on my phone" is set up on this site
    sites: list[str] | None = None  # signed in: the configured sites' names, the default one first


class SettingsOut(BaseModel):
    notify_address: str
    timezone: str
    language: str


class AccountOut(BaseModel):
    username: str
    roles: list[str]
    mailboxes: list[str]
    numbers: list[str]
    totp_enabled: bool


class CallRef(BaseModel):
    """A "Play on my phone" call: its id, where to ask what became of it, and its state so far."""

    call: str
    status_url: str
    state: str
    message: str
    final: bool
