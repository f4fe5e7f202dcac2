"""Roles with audited grants, cases and their members. Every act (allowed or refused) is audited.

An allowed act and its audit event commit in one transaction; a refused act writes its ``denied``
event on its own and raises AccessDenied.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from voicemail.audit.chain import AuditEvent
from voicemail.audit.errors import AccessDenied
from voicemail.audit.store import AuditLog, utc_now_iso
from voicemail.audit.tables import case_members, cases, role_grants
from voicemail.domain.errors import InvalidInput, NotFound

ROLES = ("investigator", "cleared_admin", "auditor", "owner", "administrator")


@dataclass(frozen=True)
class Actor:
    name: str
    source: str  # from where


@dataclass(frozen=True)
class Case:
    id: str
    authority: str
    reason: str
    owner: str
    status: str
    numbers: tuple[str, ...]
    opened_at: str
    expires_at: str | None
    members: tuple[str, ...]

    def is_open(self, now: str) -> bool:
        return self.status == "open" and (self.expires_at is None or now < self.expires_at)


def _valid_case_number(number: str) -> str:
    number = number.strip()
    if not number or len(number) > 64 or not all(c.isalnum() or c in "-_./" for c in number):
        raise InvalidInput("a case number is 1-64 letters, digits and - _ . /")
    return number


class Access:
    def __init__(self, engine: Engine, audit: AuditLog) -> None:
        self.engine = engine
        self.audit = audit

    # --- auditing helpers -------------------------------------------------------------------
    def deny(self, actor: Actor, action: str, why: str, **fields: str | None) -> AccessDenied:
        self.audit.append(AuditEvent(actor=actor.name, action=action, outcome="denied", source=actor.source,
                                     reason=why, case_id=fields.get("case_id"),
                                     request_ref=fields.get("request_ref"), message_id=fields.get("message_id")))
        return AccessDenied(f"{action} refused: {why}")

    # --- roles ------------------------------------------------------------------------------
    def roles_of(self, principal: str, conn: Connection | None = None) -> set[str]:
        query = select(role_grants.c.role).where(role_grants.c.principal == principal,
                                                 role_grants.c.revoked_at.is_(None))
        if conn is not None:
            return set(conn.execute(query).scalars())
        with self.engine.connect() as c:
            return set(c.execute(query).scalars())

    def require_role(self, actor: Actor, role: str, action: str, **fields: str | None) -> None:
        if role not in self.roles_of(actor.name):
            raise self.deny(actor, action, f"{actor.name} does not hold the {role} role", **fields)

    def grant(self, actor: Actor, principal: str, role: str, reason: str) -> None:
        """Grant ``role``. Needs the administrator role; the very first administrator may grant itself."""
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        details = {"principal": principal, "role": role}
        with self.engine.begin() as conn:
            admins = conn.execute(select(func.count()).select_from(role_grants).where(
                role_grants.c.role == "administrator", role_grants.c.revoked_at.is_(None))).scalar_one()
            bootstrap = admins == 0 and role == "administrator" and principal == actor.name
            if not bootstrap:
                if "administrator" not in self.roles_of(actor.name, conn):
                    why = f"{actor.name} does not hold the administrator role"
                elif principal == actor.name:
                    why = "nobody may grant a role to themselves"
                else:
                    why = ""
                if why:
                    conn.rollback()
                    raise self.deny(actor, "role.grant", why)
            if role in self.roles_of(principal, conn):
                return
            conn.execute(insert(role_grants).values(principal=principal, role=role, granted_by=actor.name,
                                                    granted_at=utc_now_iso()))
            self.audit.append(AuditEvent(actor=actor.name, action="role.grant", source=actor.source, reason=reason,
                                         details={**details, "bootstrap": bootstrap}), conn)

    def revoke(self, actor: Actor, principal: str, role: str, reason: str) -> None:
        if "administrator" not in self.roles_of(actor.name):
            raise self.deny(actor, "role.revoke", f"{actor.name} does not hold the administrator role")
        with self.engine.begin() as conn:
            done = conn.execute(update(role_grants).where(
                role_grants.c.principal == principal, role_grants.c.role == role,
                role_grants.c.revoked_at.is_(None)).values(revoked_by=actor.name, revoked_at=utc_now_iso()))
            if not done.rowcount:
                raise NotFound(f"{principal} does not hold the {role} role")
            self.audit.append(AuditEvent(actor=actor.name, action="role.revoke", source=actor.source, reason=reason,
                                         details={"principal": principal, "role": role}), conn)

    # --- cases ------------------------------------------------------------------------------
    def open_case(self, actor: Actor, number: str, authority: str, reason: str, numbers: Sequence[str] = (),
                  expires_at: str | None = None) -> Case:
        number = _valid_case_number(number)
        if not authority.strip() or not reason.strip():
            raise InvalidInput("a case needs an authority and a reason")
        self.require_role(actor, "investigator", "case.open", case_id=number)
        with self.engine.begin() as conn:
            if conn.execute(select(cases.c.id).where(cases.c.id == number)).first():
                raise InvalidInput(f"case {number} already exists")
            conn.execute(insert(cases).values(id=number, authority=authority, reason=reason, owner=actor.name,
                                              status="open", numbers=json.dumps(list(numbers)),
                                              opened_at=utc_now_iso(), expires_at=expires_at))
            conn.execute(insert(case_members).values(case_id=number, principal=actor.name))
            self.audit.append(AuditEvent(actor=actor.name, action="case.open", source=actor.source, reason=reason,
                                         case_id=number, details={"authority": authority,
                                                                  "numbers": list(numbers),
                                                                  "expires_at": expires_at}), conn)
        return self.case(number)

    def case(self, number: str) -> Case:
        with self.engine.connect() as conn:
            row = conn.execute(select(cases).where(cases.c.id == number)).mappings().first()
            if row is None:
                raise NotFound(f"no case {number}")
            members = conn.execute(select(case_members.c.principal).where(case_members.c.case_id == number)
                                   .order_by(case_members.c.principal)).scalars().all()
        return Case(row["id"], row["authority"], row["reason"], row["owner"], row["status"],
                    tuple(json.loads(row["numbers"])), row["opened_at"], row["expires_at"], tuple(members))

    def add_member(self, actor: Actor, number: str, principal: str) -> None:
        case = self.case(number)
        if actor.name != case.owner:
            raise self.deny(actor, "case.add_member", "only the case owner adds members", case_id=number)
        if "investigator" not in self.roles_of(principal):
            raise self.deny(actor, "case.add_member", f"{principal} is not an investigator", case_id=number)
        with self.engine.begin() as conn:
            conn.execute(delete(case_members).where(and_(case_members.c.case_id == number,
                                                         case_members.c.principal == principal)))
            conn.execute(insert(case_members).values(case_id=number, principal=principal))
            self.audit.append(AuditEvent(actor=actor.name, action="case.add_member", source=actor.source,
                                         case_id=number, details={"principal": principal}), conn)

    def close_case(self, actor: Actor, number: str, reason: str) -> None:
        case = self.case(number)
        if actor.name != case.owner:
            raise self.deny(actor, "case.close", "only the case owner closes a case", case_id=number)
        with self.engine.begin() as conn:
            conn.execute(update(cases).where(cases.c.id == number).values(status="closed"))
            self.audit.append(AuditEvent(actor=actor.name, action="case.close", source=actor.source, reason=reason,
                                         case_id=number), conn)

    def require_member(self, actor: Actor, number: str, action: str, **fields: str | None) -> Case:
        """The actor is an investigator and a member of this open, unexpired case."""
        case = self.case(number)
        self.require_role(actor, "investigator", action, case_id=number, **fields)
        if actor.name not in case.members:
            raise self.deny(actor, action, f"{actor.name} is not a member of case {number}", case_id=number,
                            **fields)
        if not case.is_open(utc_now_iso()):
            raise self.deny(actor, action, f"case {number} is {case.status} or expired", case_id=number, **fields)
        return case
