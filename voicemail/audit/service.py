"""The investigation features wired together: roles and cases, holds, two-person releases, evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from voicemail.audit.access import Access, Actor
from voicemail.audit.chain import AuditEvent
from voicemail.audit.evidence import build_package, envelope_of
from voicemail.audit.holds import Holds
from voicemail.audit.release import ReleaseRequest, Releases
from voicemail.audit.signing import SigningKey
from voicemail.audit.store import AuditLog, utc_now_iso
from voicemail.db.repository import SqlMessageStore
from voicemail.domain.errors import NotFound
from voicemail.domain.ports import Keyring, Vault


class Investigations:
    def __init__(self, engine: Engine, audit: AuditLog | None = None, *, default_site: str = "default") -> None:
        """``default_site``: the default site's name (site_name), for the holds that name a site."""
        self.engine = engine
        self.audit = audit or AuditLog(engine)
        self.access = Access(engine, self.audit)
        self.holds = Holds(engine, self.access, default_site)
        self.releases = Releases(self.access)

    def request_evidence(self, actor: Actor, case_id: str, request_ref: str, message_ids: list[str],
                         store: SqlMessageStore, reason: str = "") -> ReleaseRequest:
        for mid in message_ids:
            record = store.get(mid)
            if record.wrapped_key is None:
                raise NotFound(f"message {mid} is not sealed yet")
        return self.releases.request(actor, "evidence", case_id, request_ref, {"message_ids": message_ids}, reason)

    def export_evidence(self, actor: Actor, request_id: str, out: Path, *, store: SqlMessageStore, vault: Vault,
                        keyring: Keyring, key: SigningKey) -> dict[str, Any]:
        req = self.releases.claim_export(actor, request_id, "evidence")
        case = self.access.case(req.case_id)
        ids: list[str] = list(req.params["message_ids"])
        records = [store.get(mid) for mid in ids]
        common = {"actor": actor.name, "source": actor.source, "case_id": req.case_id,
                  "request_ref": req.request_ref}
        self.audit.append_many([AuditEvent(action="evidence.export", message_id=r.id,
                                           details={"request": request_id, "package": out.name,
                                                    "site": r.mailbox.site or store.default_site}, **common)
                                for r in records])
        header = {
            "case": {"id": case.id, "authority": case.authority, "reason": case.reason, "owner": case.owner},
            "request": {"id": req.id, "reference": req.request_ref, "requester": req.requester,
                        "requested_at": req.requested_at, "approver": req.approver, "approved_at": req.approved_at},
            "exported_by": actor.name, "exported_at": utc_now_iso(),
        }
        try:
            manifest = build_package(out, messages=[(r, envelope_of(self.engine, r.id),
                                                     self.audit.events(message_id=r.id)) for r in records],
                                     vault=vault, keyring=keyring, key=key, header=header,
                                     default_site=store.default_site)
        except Exception as exc:
            self.audit.append(AuditEvent(action="evidence.export", outcome="error", reason=type(exc).__name__,
                                         details={"request": request_id}, **common))
            raise
        self.releases.mark_exported(request_id)
        return manifest
