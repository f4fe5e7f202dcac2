"""The audit-trail page (role auditor): custody history by message, case or actor, newest first, and
"verify the chain" against the audit signing key. Viewing and verifying are themselves audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from voicemail.audit.chain import AuditEvent
from voicemail.audit.queries import search_events
from voicemail.audit.signing import SigningKey, load_public_pem
from voicemail.audit.store import AuditReport
from voicemail.domain.errors import InvalidInput, KeyringError
from voicemail.web.csrf import csrf_protect
from voicemail.web.inv_authz import require_role
from voicemail.web.render import render
from voicemail.web.sessions import web_deps

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
PAGE_SIZE = 50


def _page(request: Request, *, message: str = "", case: str = "", who: str = "", page: int = 1,
          verify: dict[str, Any] | None = None, error: str = "", status: int = 200) -> Response:
    q = {"message": message.strip(), "case": case.strip(), "actor": who.strip()}
    result = None
    prev_url = next_url = ""
    if any(q.values()):
        inv = web_deps(request).investigations
        assert inv is not None  # require_role found it
        result = search_events(inv.engine, message_id=q["message"] or None, case_id=q["case"] or None,
                               actor=q["actor"] or None, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        params = {k: v for k, v in q.items() if v}
        if page > 1:
            prev_url = "/audit?" + urlencode({**params, "page": page - 1})
        if result.offset + len(result.items) < result.total:
            next_url = "/audit?" + urlencode({**params, "page": page + 1})
    return render(request, "audit.html", {"active": "audit", "q": q, "page": result, "prev_url": prev_url,
                                          "next_url": next_url, "verify": verify, "error": error}, status=status)


@router.get("/audit")
def audit_page(request: Request, message: str = Query("", max_length=64), case: str = Query("", max_length=64),
               actor: str = Query("", max_length=200), page: int = Query(1, ge=1, le=100_000)) -> Response:
    inv, who = require_role(request, "auditor", "audit.view")
    if message.strip() or case.strip() or actor.strip():
        inv.audit.append(AuditEvent(actor=who.name, action="audit.view", source=who.source,
                                    details={"message": message.strip(), "case": case.strip(),
                                             "actor": actor.strip(), "page": page}))
    return _page(request, message=message, case=case, who=actor, page=page)


def _verify_text(report: AuditReport) -> dict[str, Any]:
    r = report.result
    lines = [f"Checkpoint at sequence {seq}: its signature does not verify." for seq in report.bad_signatures]
    if r.ok:
        lines.insert(0, f"Audit chain intact through sequence {r.last_seq} ({r.checked} events checked, "
                        f"{report.checkpoints} signed checkpoint(s) matched).")
    else:
        lines.insert(0, f"Audit chain BROKEN: first bad sequence {r.first_bad}: {r.problem}.")
    return {"ok": report.ok, "lines": lines}


def _public_key(public_pem: str, signing_key: str) -> Ed25519PublicKey:
    """The configured public key; else the signing key's public half (reads the 0600 private key file)."""
    if public_pem:
        try:
            data = Path(public_pem).read_bytes()
        except OSError:
            raise KeyringError(f"no public key at {public_pem} (setting audit_public_key)") from None
        return load_public_pem(data)
    if not signing_key:
        raise KeyringError("no audit signing key is configured (setting audit_signing_key)")
    return SigningKey.load(Path(signing_key)).public


@router.post("/audit/verify")
def audit_verify(request: Request) -> Response:
    inv, who = require_role(request, "auditor", "audit.verify")
    s = web_deps(request).settings
    try:
        public = _public_key(s.audit_public_key, s.audit_signing_key)
        shipped = Path(s.audit_checkpoint_file) if s.audit_checkpoint_file else None
        report = inv.audit.verify(public, shipped)
    except (KeyringError, InvalidInput, OSError, ValueError) as exc:
        why = str(exc) if isinstance(exc, KeyringError) else "the shipped checkpoint file cannot be read"
        inv.audit.append(AuditEvent(actor=who.name, action="audit.verify", outcome="error", source=who.source,
                                    reason=why[:200]))
        return _page(request, error=f"The chain cannot be verified here: {why}", status=503)
    r = report.result
    inv.audit.append(AuditEvent(actor=who.name, action="audit.verify", source=who.source,
                                details={"intact": report.ok, "last_seq": r.last_seq, "first_bad": r.first_bad,
                                         "bad_signatures": list(report.bad_signatures)}))
    return _page(request, verify=_verify_text(report))
