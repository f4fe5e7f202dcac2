"""What a directory sync carries and reports: users as the source describes them, and the summary."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

PHONE_KINDS = ("phone", "ip_phone", "mobile")


@dataclass(frozen=True)
class DirectoryUser:
    """One user from the directory source, already mapped from the site's attribute names.

    ``ext_id`` identifies the user for ever (AD objectGUID, OpenLDAP entryUUID); ``numbers`` are the raw
    values of the phone attributes as (kind, value), kind in PHONE_KINDS; ``change_mark`` is the value of
    the incremental-sync attribute (uSNChanged / modifyTimestamp).
    """

    ext_id: str
    dn: str
    account: str = ""
    name: str = ""
    email: str = ""
    employee_id: str = ""
    office: str = ""
    numbers: tuple[tuple[str, str], ...] = ()
    enabled: bool = True
    change_mark: str = ""


@dataclass(frozen=True)
class StoredUser:
    """A synced user as the database holds it (for mailbox / web-account mapping and tests)."""

    ext_id: str
    dn: str
    account: str
    name: str
    email: str
    employee_id: str
    office: str
    enabled: bool
    removed: bool

    @property
    def active(self) -> bool:
        """Internal-capable: enabled in the directory and still returned by it."""
        return self.enabled and not self.removed


@dataclass
class PageCounts:
    added: int = 0
    changed: int = 0
    disabled: int = 0
    unchanged: int = 0

    def add(self, other: PageCounts) -> None:
        self.added += other.added
        self.changed += other.changed
        self.disabled += other.disabled
        self.unchanged += other.unchanged


@dataclass(frozen=True)
class SyncSummary:
    """The outcome of one sync. ``disabled`` counts users that were active and are disabled now (they are
    also in ``changed``); ``removed`` counts users the directory no longer returns (deleted or now
    outside the base DN / filter). Both stop being internal."""

    mode: str  # "full" or "incremental"
    fetched: int
    added: int
    changed: int
    disabled: int
    removed: int
    unchanged: int
    skipped: int  # entries without the id attribute
    seconds: float
    reason: str = ""  # why a scheduled sync ran as a full one

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def line(self) -> str:
        return (f"{self.mode} sync: {self.fetched} fetched, {self.added} added, {self.changed} changed "
                f"({self.disabled} disabled), {self.removed} removed, {self.unchanged} unchanged, "
                f"{self.skipped} skipped, in {self.seconds:.1f} s")


@dataclass(frozen=True)
class SyncState:
    """The stored progress of the directory sync (times are timezone-aware UTC)."""

    run: int
    running_since: dt.datetime | None
    high_water: str
    source_key: str
    server_id: str
    plan_fingerprint: str
    last_attempt_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_full_at: dt.datetime | None
    last_error: str
