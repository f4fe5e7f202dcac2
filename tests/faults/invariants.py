"""The custody invariants every fault scenario ends with, checked over spool, database, vault, outbox /
mail server and audit trail, and the outcome row the scenario reports.

- every message that arrived is sealed exactly once: its row is stripped, one recording per format,
  the sealed audio decrypts to exactly what Asterisk wrote;
- no plaintext anywhere: no file under the site (spool, vault, outbox, logs, hidden and temporary files
  included) holds a piece of any recording, except a message the scenario expects to stay in the spool
  (a parked poison recording: the documented exception);
- notified exactly once after recovery (``allowed_duplicates`` names the documented exception);
- zero orphans: after the vault GC, the vault holds exactly the blobs on record;
- nothing lost: a message is either sealed or (documented) still in the spool;
- the audit chain replays intact.

Importable by every scenario under tests/faults (``check``, ``Expected``, ``Outcome``).
"""

from __future__ import annotations

import dataclasses
import email
import hashlib
import mmap
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from pathlib import Path

from sqlalchemy import select

from tests.integration.pipeline.harness import Site
from voicemail.audit.chain import replay
from voicemail.audit.store import AuditLog
from voicemail.db.engine import make_engine
from voicemail.db.models import DeadLetterRow, MessageRow, NotificationRow
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import STRIPPED

NEEDLE = 48  # bytes of a recording that count as a piece of it
SCANNED_LIMIT = 512 * 1024 * 1024  # no file under a test site is larger; bigger ones are reported


@dataclass(frozen=True)
class Expected:
    """A message the scenario left: where, Asterisk's msg_id, and the recording as Asterisk wrote it."""

    mailbox: str
    msg_id: str
    audio: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.audio).hexdigest()

    def needles(self) -> list[bytes]:
        """Pieces of the samples (past the 44-byte header) at the start, middle and end."""
        body = len(self.audio) - 44
        if body < 3 * NEEDLE:
            return [self.audio[44:]] if body > 8 else []
        return [self.audio[44 + offset:44 + offset + NEEDLE]
                for offset in (0, body // 2, body - NEEDLE)]


@dataclass
class Outcome:
    """One row of the results table, plus the violations found (empty = every invariant holds)."""

    scenario: str
    arrived: int = 0
    sealed: int = 0
    notified: int = 0
    duplicates: int = 0
    lost: int = 0
    plaintext_left: int = 0
    orphans: int = 0
    recovery_seconds: float | None = None
    note: str = ""
    violations: list[str] = field(default_factory=list)

    def row(self) -> dict[str, object]:
        return {"scenario": self.scenario, "in": self.arrived, "sealed": self.sealed, "notified": self.notified,
                "duplicates": self.duplicates, "lost": self.lost, "plaintext_left": self.plaintext_left,
                "orphans": self.orphans, "recovery_s": None if self.recovery_seconds is None
                else round(self.recovery_seconds, 1), "note": self.note}


def collect_vault_orphans(site: Site) -> int:
    """The product's own vault GC (what each reconciliation runs), judging every file whatever its age."""
    from voicemail.app import build_container

    settings = dataclasses.replace(site.settings(), vault_gc_after=0.0)
    container = build_container(settings, on_new=lambda _id: None, migrate=False)
    try:
        return container.collect_vault_orphans()
    finally:
        container.close()


def files_holding(root: Path, needles: Iterable[bytes]) -> list[Path]:
    """Every regular file under ``root`` (hidden ones too) that contains one of ``needles``."""
    wanted = [n for n in needles if n]
    hits: list[Path] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        size = path.stat().st_size
        if size == 0:
            continue
        if size > SCANNED_LIMIT:
            hits.append(path)
            continue
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if any(data.find(n) != -1 for n in wanted):
                hits.append(path)
    return hits


def mail_counts_from_outbox(site: Site) -> Counter[str]:
    """Message-IDs of the .eml files in the outbox (the outbox writes each notification once by name)."""
    counts: Counter[str] = Counter()
    for path in site.emls():
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        counts[str(message["Message-ID"])] += 1
    return counts


def mail_counts_from_smtp(contents: Iterable[bytes]) -> Counter[str]:
    """Message-IDs of what an SMTP server accepted (a duplicate shows as a count above one)."""
    counts: Counter[str] = Counter()
    for content in contents:
        message = email.message_from_bytes(content, policy=policy.default)
        counts[str(message["Message-ID"])] += 1
    return counts


def check(site: Site, scenario: str, expected: list[Expected], mail: Counter[str], *,
          stays_in_spool: Iterable[str] = (), allowed_duplicates: int = 0, gc: bool = True,
          recovery_seconds: float | None = None, note: str = "", announced: bool = True) -> Outcome:
    """Check every invariant for ``expected`` and return the outcome (violations listed, never raised).

    ``stays_in_spool``: msg_ids documented to stay unsealed (a parked poison recording). ``mail``: how
    many times each Message-ID reached the owner (outbox or SMTP server). ``announced=False`` (an import
    without --notify): each message's notification must be recorded as skipped and never reach anyone.
    """
    if gc:
        collect_vault_orphans(site)
    out = Outcome(scenario, arrived=len(expected), recovery_seconds=recovery_seconds, note=note)
    excused = set(stays_in_spool)
    engine = make_engine(site.database_url)
    try:
        with engine.connect() as conn:
            rows = {(r.context, r.mailbox, r.msg_id): r for r in conn.execute(select(MessageRow.__table__))}
            notes = {r.message_id: r for r in conn.execute(select(NotificationRow.__table__))}
            parked = {r.ref_id for r in conn.execute(select(DeadLetterRow.__table__)) if r.resolved_at is None}
        audit = AuditLog(engine)
        verdict = replay(audit.iter_all(), start=audit.base(), head=audit.head())
        if not verdict.ok:
            out.violations.append(f"audit chain broken at {verdict.first_bad}: {verdict.problem}")
    finally:
        engine.dispose()

    blobs_on_record: set[str] = set()
    with site.store() as store:
        for exp in expected:
            ref = MailboxRef.parse(exp.mailbox)
            row = rows.get((ref.context, ref.mailbox, exp.msg_id))
            record = store.find(ref, exp.msg_id)
            if row is None or record is None:
                out.lost += 1
                out.violations.append(f"{exp.msg_id}: no record (never discovered)")
                continue
            if exp.msg_id in excused:
                if row.id not in parked:
                    out.violations.append(f"{exp.msg_id}: expected to be parked as dead letter, it is not")
                continue
            if record.state != STRIPPED:
                out.violations.append(f"{exp.msg_id}: state {record.state}, not stripped")
                if record.state in ("vanished", "destroyed"):
                    out.lost += 1
                continue
            blobs_on_record.update(r.blob_name for r in record.recordings)
            if len({r.fmt for r in record.recordings}) != len(record.recordings):
                out.violations.append(f"{exp.msg_id}: a format sealed twice")
            try:
                got = site.open_sealed(exp.mailbox, exp.msg_id)
            except Exception as exc:  # a sealed copy that does not open is a lost message
                out.lost += 1
                out.violations.append(f"{exp.msg_id}: sealed copy does not open ({type(exc).__name__})")
                continue
            if hashlib.sha256(got).hexdigest() != exp.sha256:
                out.lost += 1
                out.violations.append(f"{exp.msg_id}: sealed audio differs from the recording")
                continue
            out.sealed += 1
            n = notes.get(row.id)
            copies = mail.get(f"<{n.id}@{site.settings().mail_domain}>", 0) if n is not None else 0
            if not announced:
                if n is None or n.state != "skipped" or copies:
                    out.violations.append(f"{exp.msg_id}: announced or not recorded as skipped "
                                          f"(notification {n.state if n else 'missing'}, {copies} sent)")
            elif n is None or n.state != "sent" or copies == 0:
                out.violations.append(f"{exp.msg_id}: not notified (notification {n.state if n else 'missing'})")
            else:
                out.notified += 1
                out.duplicates += copies - 1
    if out.duplicates > allowed_duplicates:
        out.violations.append(f"{out.duplicates} duplicate notification(s), {allowed_duplicates} allowed")

    # every row's blobs (other messages' too) are on record; anything else in the vault is an orphan
    with site.store() as store:
        for row in rows.values():
            blobs_on_record.update(r.blob_name for r in store.get(row.id).recordings)
    vault = site.root / "vault"
    on_disk = [p for p in vault.rglob("*") if p.is_file()] if vault.exists() else []
    orphans = [p for p in on_disk if p.name not in blobs_on_record]
    out.orphans = len(orphans)
    if orphans:
        out.violations.append(f"{len(orphans)} vault file(s) no record points to: {[p.name for p in orphans][:5]}")

    leaks: set[Path] = set()
    for exp in expected:
        holding = files_holding(site.root, exp.needles())
        if exp.msg_id in excused:
            holding = [p for p in holding if not _is_spool_audio(site, p)]
        leaks.update(holding)
        if holding:
            out.plaintext_left += 1
    if leaks:
        out.violations.append(f"plaintext left in {sorted(str(p.relative_to(site.root)) for p in leaks)[:8]}")
    out.plaintext_left += len(excused)  # the documented exception still counts in the table
    return out


def _is_spool_audio(site: Site, path: Path) -> bool:
    try:
        rel = path.relative_to(site.spool)
    except ValueError:
        return False
    return path.name.startswith("msg") and "tmp" not in rel.parts
