"""Call detail records from AMI ``Cdr`` events, and their release under the two-person rule.

Fields as Asterisk 22 sends them (capture q1-voicemail-session.ami.txt): Source, Destination,
DestinationContext, CallerID, Channel, DestinationChannel, LastApplication, LastData, StartTime,
AnswerTime, EndTime ("YYYY-MM-DD HH:MM:SS", Asterisk's local time), Duration, BillableSeconds,
Disposition, AMAFlags, UniqueID, UserField, AccountCode, SystemName. There is deliberately no
"list CDRs" operation: the only way out in bulk is an approved release for a case.

Each record names its site, the Asterisk whose listener stored it (extension 1001 on two sites is two
phones). A release may be narrowed to one site; with several sites configured the released rows and the
manifest name the site, with one they are as they were before sites.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.engine import Engine

from voicemail import __version__
from voicemail.ami.parser import AmiMessage
from voicemail.audit.access import Actor
from voicemail.audit.chain import AuditEvent
from voicemail.audit.evidence import sha256_file, write_new
from voicemail.audit.release import ReleaseRequest
from voicemail.audit.service import Investigations
from voicemail.audit.signing import SigningKey
from voicemail.audit.store import utc_now_iso
from voicemail.audit.tables import cdrs
from voicemail.domain.errors import InvalidInput
from voicemail.domain.models import check_name
from voicemail.sites import DEFAULT_SITE

# column -> AMI header
FIELDS = {
    "unique_id": "UniqueID", "system_name": "SystemName", "account_code": "AccountCode", "source": "Source",
    "destination": "Destination", "destination_context": "DestinationContext", "caller_id": "CallerID",
    "channel": "Channel", "destination_channel": "DestinationChannel", "last_application": "LastApplication",
    "last_data": "LastData", "start_time": "StartTime", "answer_time": "AnswerTime", "end_time": "EndTime",
    "duration": "Duration", "billable_seconds": "BillableSeconds", "disposition": "Disposition",
    "ama_flags": "AMAFlags", "user_field": "UserField",
}
COLUMNS = tuple(FIELDS)
TIME = re.compile(r"^\d{4}-\d\d-\d\d( \d\d:\d\d(:\d\d)?)?$")


def parse_cdr(message: AmiMessage) -> dict[str, Any] | None:
    """The row of a ``Cdr`` event (None for any other event). Pure."""
    if (message.get("Event") or "").lower() != "cdr":
        return None
    row: dict[str, Any] = {col: (message.get(header) or "")[:4000] for col, header in FIELDS.items()}
    for col in ("duration", "billable_seconds"):
        row[col] = int(row[col]) if str(row[col]).isascii() and str(row[col]).isdigit() else 0
    return row


def _number_of(caller_id: str) -> str:
    m = re.search(r"<([^>]*)>", caller_id)
    return m.group(1) if m else caller_id


class CdrStore:
    def __init__(self, engine: Engine, site: str = DEFAULT_SITE) -> None:
        """``site``: the Asterisk whose events this store is handed (the listener's site)."""
        self._engine = engine
        self._site = site

    def ingest(self, message: AmiMessage) -> bool:
        """Store a Cdr event as one of this store's site; other events are ignored. Used as the listener's
        ``on_cdr`` hook."""
        row = parse_cdr(message)
        if row is None:
            return False
        with self._engine.begin() as conn:
            conn.execute(insert(cdrs).values(**row, site=self._site, received_at=utc_now_iso()))
        return True

    def for_release(self, numbers: list[str], start: str, end: str,
                    site: str | None = None) -> list[dict[str, Any]]:
        """CDRs where one of ``numbers`` called or was called, StartTime in [start, end), on ``site`` (None:
        every site); each row names its site."""
        if not numbers:
            return []
        where = [or_(cdrs.c.source.in_(numbers), cdrs.c.destination.in_(numbers)),
                 and_(cdrs.c.start_time >= start, cdrs.c.start_time < end)]
        if site is not None:
            where.append(cdrs.c.site == site)
        query = select(*(cdrs.c[c] for c in COLUMNS), cdrs.c.site).where(*where).order_by(
            cdrs.c.start_time, cdrs.c.id)
        with self._engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        # caller ids carrying one of the numbers (e.g. "Name" <1001>) also match through Source above
        return [r for r in rows if r["source"] in numbers or r["destination"] in numbers
                or _number_of(r["caller_id"]) in numbers]


def request_cdrs(inv: Investigations, actor: Actor, case_id: str, request_ref: str, start: str, end: str,
                 reason: str = "", site: str | None = None) -> ReleaseRequest:
    """Request the case's numbers' CDRs in [start, end); ``site`` narrows them to one Asterisk (the
    request, its audit event and the manifest then name it), None asks for every site's."""
    if not (TIME.match(start) and TIME.match(end)) or not start < end:
        raise InvalidInput("--from / --to must be 'YYYY-MM-DD[ HH:MM[:SS]]' with from < to (Asterisk local time)")
    if site is not None:
        check_name(site, "site")
    case = inv.access.case(case_id)
    if not case.numbers:
        raise InvalidInput(f"case {case_id} names no phone numbers (case open --phone …)")
    params: dict[str, Any] = {"numbers": list(case.numbers), "from": start, "to": end}
    if site is not None:
        params["site"] = site
    return inv.releases.request(actor, "cdr", case_id, request_ref, params, reason)


def export_cdrs(inv: Investigations, actor: Actor, request_id: str, out: Path, key: SigningKey, *,
                several_sites: bool = False) -> dict[str, Any]:
    """Write CSV + JSON of the approved request's CDRs, with a signed manifest (verify like evidence).

    With ``several_sites`` (or a request for one site) each record carries its ``site`` (the CSV's last
    column) and the manifest names the ``site`` asked for (null: every site) and the ``sites`` released."""
    req = inv.releases.claim_export(actor, request_id, "cdr")
    if out.exists():
        raise InvalidInput(f"{out} already exists; choose a new folder")
    params: Mapping[str, Any] = req.params
    site: str | None = params.get("site")
    rows = CdrStore(inv.engine).for_release(list(params["numbers"]), params["from"], params["to"], site)
    named = several_sites or site is not None
    sites = sorted({r["site"] for r in rows})
    if not named:
        for row in rows:
            del row["site"]
    where = {"site": site} if site is not None else ({"sites": sites} if named else {})
    inv.audit.append(AuditEvent(actor=actor.name, action="cdr.export", source=actor.source, case_id=req.case_id,
                                request_ref=req.request_ref,
                                details={"request": request_id, "records": len(rows), **where}))
    out.mkdir(parents=True, mode=0o700)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*COLUMNS, "site"] if named else list(COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    write_new(out / "cdrs.csv", buf.getvalue().encode())
    write_new(out / "cdrs.json", json.dumps(rows, indent=2, sort_keys=True).encode())
    files = {}
    for name in ("cdrs.csv", "cdrs.json"):
        digest, size = sha256_file(out / name)
        files[name] = {"sha256": digest, "size": size}
    manifest = {"format": "voicemail-cdr-release/1", "tool": "voicemail", "tool_version": __version__,
                "case": req.case_id, "request": {"id": req.id, "reference": req.request_ref,
                                                 "requester": req.requester, "requested_at": req.requested_at,
                                                 "approver": req.approver, "approved_at": req.approved_at},
                "numbers": params["numbers"], "from": params["from"], "to": params["to"], "records": len(rows),
                "exported_by": actor.name, "exported_at": utc_now_iso(), "signing_key_id": key.key_id,
                "messages": [], "files": files}
    if named:
        manifest |= {"site": site, "sites": sites}
    data = json.dumps(manifest, sort_keys=True, indent=2).encode()
    write_new(out / "manifest.json", data)
    write_new(out / "manifest.sig", base64.b64encode(key.sign(data)) + b"\n")
    write_new(out / "public-key.pem", key.public_pem())
    inv.releases.mark_exported(request_id)
    return manifest
