"""Signed destruction records: what one retention run destroyed, verifiable offline by an auditor.

A record file (``<retention_records_dir>/destruction-<created>-<id>.json``) is::

    {"format": "voicemail-destruction-record", "version": 1,
     "record": { ...the body... },
     "signature": "<base64 Ed25519 over the canonical JSON of the body>",
     "key_id": "<16 hex: SHA-256 of the raw public key>"}

The body: ``id``, ``created_at``, ``clock`` (the run's notion of now, ISO UTC), ``actor``, ``source``,
``classes`` (one entry per record class: ``class``, ``period_days``, ``cutoff``, ``count``, ``ids``,
``held_skipped``, ``failed``, and for messages ``keys_destroyed``: ``{"message_id", "kek_id",
"wrapped_key_sha256"}`` — which data key was destroyed and which KEK had wrapped it), and the totals.
Canonical JSON = sorted keys, no spaces, ASCII. The same body and signature are stored in the
``destruction_records`` table.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from voicemail.audit.signing import SigningKey, key_id, verify_signature
from voicemail.domain.errors import InvalidInput, NotFound
from voicemail.lifecycle.tables import destruction_records
from voicemail.vault.private_files import ensure_private_dir, private_temp_file, publish_new

FORMAT = "voicemail-destruction-record"
VERSION = 1


def canonical_text(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical(body: dict[str, Any]) -> bytes:
    return canonical_text(body).encode("ascii")


def sign_record(key: SigningKey, body: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "record": body,
            "signature": base64.b64encode(key.sign(canonical(body))).decode("ascii"), "key_id": key.key_id}


def store_record(engine: Engine, signed: dict[str, Any], directory: Path | None) -> Path | None:
    """Keep the record in the database, and as a file in ``directory`` (0600, never overwritten)."""
    body = signed["record"]
    totals = body.get("totals", {})
    with engine.begin() as conn:
        conn.execute(insert(destruction_records).values(
            id=body["id"], created_at=body["created_at"], destroyed=int(totals.get("destroyed", 0)),
            held=int(totals.get("held_skipped", 0)), body=canonical_text(body),
            signature=signed["signature"], key_id=signed["key_id"]))
    if directory is None:
        return None
    ensure_private_dir(directory)
    stamp = body["created_at"].replace(":", "").replace("-", "").split(".")[0]
    path = directory / f"destruction-{stamp}-{body['id']}.json"
    with private_temp_file(directory, prefix=".record-") as (sink, temp):
        # written as it is encoded: a record naming many messages is never held whole a second time
        text = io.TextIOWrapper(sink, encoding="ascii", newline="\n", write_through=False)
        json.dump(signed, text, indent=2, sort_keys=True)
        text.write("\n")
        text.flush()
        text.detach()
    publish_new(temp, path)
    return path


def load_record(engine: Engine | None, ref: str) -> dict[str, Any]:
    """A signed record from a file path, or by its id from the database."""
    path = Path(ref)
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="ascii"))
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput(f"{ref} is not a destruction record (not ASCII JSON)") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise InvalidInput(f"{ref} is not a destruction record")
        return doc
    if engine is None:
        raise NotFound(f"no destruction record file {ref}")
    with engine.connect() as conn:
        row = conn.execute(select(destruction_records).where(destruction_records.c.id == ref)).first()
    if row is None:
        raise NotFound(f"no destruction record {ref[:64]} (neither a file nor a record id)")
    return {"format": FORMAT, "version": VERSION, "record": json.loads(row.body), "signature": row.signature,
            "key_id": row.key_id}


def verify_record(doc: dict[str, Any], public: Ed25519PublicKey) -> list[str]:
    """Problems found (empty = the record is authentic and consistent)."""
    problems: list[str] = []
    if doc.get("version") != VERSION:
        problems.append(f"unsupported version {doc.get('version')!r}")
    body = doc.get("record")
    if not isinstance(body, dict):
        return [*problems, "no record body"]
    if doc.get("key_id") != key_id(public):
        problems.append(f"signed by key {doc.get('key_id')!r}, not by the given public key {key_id(public)}")
    try:
        signature = base64.b64decode(str(doc.get("signature", "")), validate=True)
    except ValueError:
        signature = b""
    if not verify_signature(public, signature, canonical(body)):
        problems.append("signature does not verify: the record was altered or signed by another key")
    total = 0
    for entry in body.get("classes", []):
        ids = entry.get("ids", [])
        if entry.get("count") != len(ids):
            problems.append(f"class {entry.get('class')}: count {entry.get('count')} but {len(ids)} ids listed")
        total += len(ids)
    if body.get("totals", {}).get("destroyed") != total:
        problems.append(f"totals.destroyed is {body.get('totals', {}).get('destroyed')}, the classes list {total}")
    return problems
