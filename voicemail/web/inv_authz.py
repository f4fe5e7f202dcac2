"""Who may use the investigation pages, and as whom their acts are audited.

A signed-in web account is the investigation principal of the same name: its user name is looked up in the
role grants (`voicemail role grant USERNAME investigator|cleared_admin|auditor`). Every act is done as
``Actor(name=username, source=client address)``, so the audit trail names the authenticated person.
A missing role is refused by ``Access.require_role``, which audits the refusal; the app answers 404.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from voicemail.audit.access import Actor
from voicemail.audit.service import Investigations
from voicemail.domain.errors import NotFound
from voicemail.web.sessions import client_address, current, require, web_deps

INVESTIGATION_ROLES = ("auditor", "investigator", "cleared_admin")


def investigations(request: Request) -> Investigations:
    inv = web_deps(request).investigations
    if inv is None:
        raise NotFound("not found")
    return inv


def actor_of(request: Request) -> Actor:
    """The signed-in person as an audit actor (redirects to sign-in when nobody is signed in)."""
    return Actor(name=require(request).account.username, source=client_address(request))


def require_role(request: Request, role: str, action: str, **fields: str | None) -> tuple[Investigations, Actor]:
    """The signed-in person holds ``role``; else the refusal is audited as ``action`` and answered 404."""
    actor = actor_of(request)
    inv = investigations(request)
    inv.access.require_role(actor, role, action, **fields)
    return inv, actor


def investigation_roles(request: Request) -> frozenset[str]:
    """The investigation roles of the signed-in person (for the navigation links); empty when signed out."""
    cached = getattr(request.state, "investigation_roles", None)
    if isinstance(cached, frozenset):
        return cached
    authed = current(request)
    inv = web_deps(request).investigations
    roles: frozenset[str] = frozenset()
    if authed is not None and inv is not None:
        try:
            roles = frozenset(inv.access.roles_of(authed.account.username)) & frozenset(INVESTIGATION_ROLES)
        except SQLAlchemyError:  # e.g. while rendering the error page of a database outage: no links
            roles = frozenset()
    request.state.investigation_roles = roles
    return roles
