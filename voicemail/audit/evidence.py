"""Evidence packages: build one for an approved request, and verify one offline (no database).

Layout of a package folder::

    manifest.json              case, request, requester, approver, times, tool version, every file's
                               SHA-256 and size, each recording's ingest hash
    manifest.sig               base64 Ed25519 signature over the exact bytes of manifest.json
    public-key.pem             the signing key's public half (verify against a copy obtained separately)
    messages/<id>/audio.<fmt>  the recording, bit-identical to what Asterisk wrote
    messages/<id>/envelope.txt the spool msgNNNN.txt as ingested
    messages/<id>/custody.jsonl every audit event that touched the message, hash-checked one by one
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.engine import Engine

from voicemail import __version__
from voicemail.audit.chain import ChainedEvent, event_hash
from voicemail.audit.signing import SigningKey, load_public_pem, verify_signature
from voicemail.db.models import MessageRow
from voicemail.domain.errors import InvalidInput
from voicemail.domain.ports import Keyring, Vault
from voicemail.domain.records import MessageRecord
from voicemail.services.export import export_recording

FORMAT = "voicemail-evidence/1"


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 16):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def envelope_of(engine: Engine, message_id: str) -> bytes:
    with engine.connect() as conn:
        data = conn.execute(select(MessageRow.envelope).where(MessageRow.id == message_id)).scalar_one_or_none()
    return bytes(data or b"")


def build_package(out: Path, *, messages: Iterable[tuple[MessageRecord, bytes, list[ChainedEvent]]],
                  vault: Vault, keyring: Keyring, key: SigningKey, header: dict[str, Any],
                  default_site: str = "default") -> dict[str, Any]:
    """Write the package folder ``out`` (must not exist). ``messages``: (record, envelope, custody events);
    each message names its site (the Asterisk it was left on; ``default_site`` when its record names none)."""
    if out.exists():
        raise InvalidInput(f"{out} already exists; choose a new folder")
    out.mkdir(parents=True, mode=0o700)
    entries: list[dict[str, Any]] = []
    files: dict[str, dict[str, Any]] = {}
    for record, envelope, custody in messages:
        folder = out / "messages" / record.id
        folder.mkdir(parents=True, mode=0o700)
        recordings = []
        for rec in record.recordings:
            name = f"messages/{record.id}/audio.{rec.fmt}"
            written, digest = export_recording(vault, keyring, record, out / name, rec.fmt)  # checks ingest hash
            files[name] = {"sha256": digest, "size": written}
            recordings.append({"format": rec.fmt, "file": name, "ingest_sha256": rec.sha256})
        env_name = f"messages/{record.id}/envelope.txt"
        write_new(out / env_name, envelope)
        custody_name = f"messages/{record.id}/custody.jsonl"
        write_new(out / custody_name, "".join(json.dumps(e.as_dict(), sort_keys=True) + "\n"
                                               for e in custody).encode())
        for name in (env_name, custody_name):
            digest, size = sha256_file(out / name)
            files[name] = {"sha256": digest, "size": size}
        entries.append({"message_id": record.id, "site": record.mailbox.site or default_site,
                        "mailbox": str(record.mailbox), "msg_id": record.msg_id,
                        "origtime": record.origtime, "duration": record.duration, "recordings": recordings,
                        "envelope": env_name, "custody_log": custody_name})
    manifest = {"format": FORMAT, "tool": "voicemail", "tool_version": __version__, **header,
                "signing_key_id": key.key_id, "messages": entries, "files": files}
    data = json.dumps(manifest, sort_keys=True, indent=2).encode()
    write_new(out / "manifest.json", data)
    write_new(out / "manifest.sig", base64.b64encode(key.sign(data)) + b"\n")
    write_new(out / "public-key.pem", key.public_pem())
    return manifest


def verify_package(package: Path, public: Ed25519PublicKey | None = None) -> list[str]:
    """Every problem found, naming the file (empty = the package is intact). Offline: files only.

    Without ``public`` the package's own public-key.pem is used, which proves integrity but not origin.
    """
    problems: list[str] = []
    try:
        data = (package / "manifest.json").read_bytes()
        manifest = json.loads(data)
    except (OSError, ValueError) as exc:
        return [f"manifest.json: unreadable ({exc.__class__.__name__})"]
    try:
        key = public or load_public_pem((package / "public-key.pem").read_bytes())
        signature = base64.b64decode((package / "manifest.sig").read_bytes().strip(), validate=True)
        if not verify_signature(key, signature, data):
            problems.append("manifest.sig: the signature does not match manifest.json")
    except (OSError, ValueError, InvalidInput) as exc:
        problems.append(f"manifest.sig / public-key.pem: cannot check the signature ({exc})")
    files: dict[str, dict[str, Any]] = manifest.get("files", {})
    for name, want in sorted(files.items()):
        path = package / name
        if ".." in Path(name).parts or not path.is_file():
            problems.append(f"{name}: missing")
            continue
        digest, size = sha256_file(path)
        if digest != want.get("sha256") or size != want.get("size"):
            problems.append(f"{name}: SHA-256 does not match the manifest")
    for entry in manifest.get("messages", []):
        for rec in entry.get("recordings", []):
            if files.get(rec["file"], {}).get("sha256") != rec.get("ingest_sha256"):
                problems.append(f"{rec['file']}: does not match the hash taken at ingest")
        problems.extend(_check_custody(package, entry.get("custody_log", "")))
    listed = set(files) | {"manifest.json", "manifest.sig", "public-key.pem"}
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package).as_posix()
        if path.is_file() and rel not in listed:
            problems.append(f"{rel}: not listed in the manifest")
    return problems


def _check_custody(package: Path, name: str) -> list[str]:
    try:
        lines = (package / name).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []  # reported as missing / altered by the file check
    for n, line in enumerate(lines, 1):
        try:
            ev = ChainedEvent(**json.loads(line))
        except (ValueError, TypeError):
            return [f"{name}: line {n} is not an audit record"]
        if event_hash(ev.seq, ev.at, ev, ev.prev_hash, ev.details) != ev.hash:
            return [f"{name}: audit record seq {ev.seq} does not match its hash"]
    return []
