"""Signed checkpoints of the chain head, and shipping them to a separate store (a JSON-lines file)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from voicemail.audit.chain import Anchor
from voicemail.audit.signing import SigningKey, verify_signature
from voicemail.domain.errors import InvalidInput


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head_hash: str
    at: str
    key_id: str
    signature: str  # base64 of the Ed25519 signature over payload()
    kind: str = "periodic"  # periodic | on-demand | epoch-seal

    def payload(self) -> bytes:
        return checkpoint_payload(self.seq, self.head_hash, self.at, self.key_id, self.kind)

    def verify(self, public: Ed25519PublicKey) -> bool:
        try:
            sig = base64.b64decode(self.signature, validate=True)
        except ValueError:
            return False
        return verify_signature(public, sig, self.payload())

    def anchor(self) -> Anchor:
        return Anchor(self.seq, self.head_hash)

    def to_json(self) -> str:
        return json.dumps({"seq": self.seq, "head_hash": self.head_hash, "at": self.at, "key_id": self.key_id,
                           "signature": self.signature, "kind": self.kind}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        try:
            d = json.loads(text)
            return cls(int(d["seq"]), str(d["head_hash"]), str(d["at"]), str(d["key_id"]), str(d["signature"]),
                       str(d.get("kind", "periodic")))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"not a checkpoint record: {exc}") from None


def checkpoint_payload(seq: int, head_hash: str, at: str, key_id: str, kind: str) -> bytes:
    return json.dumps({"type": "voicemail-audit-checkpoint/1", "seq": seq, "head_hash": head_hash, "at": at,
                       "key_id": key_id, "kind": kind}, sort_keys=True, separators=(",", ":")).encode()


def sign_checkpoint(key: SigningKey, seq: int, head_hash: str, at: str, kind: str = "periodic") -> Checkpoint:
    sig = key.sign(checkpoint_payload(seq, head_hash, at, key.key_id, kind))
    return Checkpoint(seq, head_hash, at, key.key_id, base64.b64encode(sig).decode(), kind)


def ship_to_file(path: Path, checkpoint: Checkpoint) -> None:
    """Append one checkpoint line to ``path`` (0600 when created) and fsync it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(checkpoint.to_json() + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_shipped(path: Path) -> list[Checkpoint]:
    if not path.exists():
        return []
    return [Checkpoint.from_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def verified_anchors(checkpoints: Iterable[Checkpoint], public: Ed25519PublicKey) -> tuple[list[Anchor], list[int]]:
    """Anchors of the checkpoints whose signature holds, and the seqs of those whose signature fails."""
    good: list[Anchor] = []
    bad: list[int] = []
    for cp in checkpoints:
        (good.append(cp.anchor()) if cp.verify(public) else bad.append(cp.seq))
    return good, bad
