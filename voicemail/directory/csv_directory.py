"""A directory kept in a CSV file (small sites): columns number,name,email; extra columns ignored.

The file is read at construction (a bad file is a ConfigError at start-up) and read again whenever it
changes on disk. Rows without a usable number or name are skipped and counted; a number listed twice
with different names is ambiguous and resolves to nobody. Lookups never log numbers or names. With a
NumberPlan, numbers in the file and looked-up numbers are both reduced to the plan's key (extensions,
E.164, DID ranges); without one, to digits only (normalize_number).
"""

from __future__ import annotations

import csv
import io
import os
import unicodedata
from collections.abc import Callable
from pathlib import Path

from voicemail.directory.numbers import normalize_number
from voicemail.directory.plan import NumberPlan
from voicemail.domain.errors import ConfigError
from voicemail.domain.models import DirectoryEntry

REQUIRED_COLUMNS = ("number", "name", "email")
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


class CsvDirectory:
    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, plan: NumberPlan | None = None) -> None:
        self._path = Path(path)
        self._key: Callable[[str], str | None] = plan.key if plan is not None else normalize_number
        self._max_bytes = max_bytes
        self._stamp: tuple[int, int, int] | None = None
        self._entries: dict[str, DirectoryEntry] = {}
        self.skipped_rows = 0
        self.ambiguous_numbers = 0
        self._reload_if_changed()

    def lookup(self, number: str) -> DirectoryEntry | None:
        """The entry for ``number`` (normalised), or None. ConfigError if the file became unreadable."""
        key = self._key(number)
        if key is None:
            return None
        self._reload_if_changed()
        return self._entries.get(key)

    def __len__(self) -> int:
        return len(self._entries)

    def _reload_if_changed(self) -> None:
        try:
            st = os.stat(self._path)
        except OSError as exc:
            raise ConfigError(f"directory file {self._path} is not readable ({exc.strerror})") from None
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == self._stamp:
            return
        if st.st_size > self._max_bytes:
            raise ConfigError(f"directory file {self._path} is larger than {self._max_bytes} bytes")
        try:
            raw = self._path.read_bytes()[: self._max_bytes + 1]
        except OSError as exc:
            raise ConfigError(f"directory file {self._path} is not readable ({exc.strerror})") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConfigError(f"directory file {self._path} is not UTF-8") from None
        self._entries, self.skipped_rows, self.ambiguous_numbers = _parse(text, self._path, self._key)
        self._stamp = stamp


def _parse(text: str, path: Path, key: Callable[[str], str | None]) -> tuple[dict[str, DirectoryEntry], int, int]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ConfigError(f"directory file {path} is empty (needs a header row)") from None
    except csv.Error:
        raise ConfigError(f"directory file {path} has an unreadable header row") from None
    columns = [cell.strip().lower() for cell in header]
    missing = [col for col in REQUIRED_COLUMNS if col not in columns]
    if missing:
        raise ConfigError(f"directory file {path} lacks column(s): {', '.join(missing)}")
    index = {col: columns.index(col) for col in REQUIRED_COLUMNS}

    entries: dict[str, DirectoryEntry] = {}
    ambiguous: set[str] = set()
    skipped = 0
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            entry = _entry(row, index, key)
            if entry is None:
                skipped += 1
                continue
            known = entries.get(entry.number)
            if entry.number in ambiguous or (known is not None and known != entry):
                ambiguous.add(entry.number)
                entries.pop(entry.number, None)
                continue
            entries[entry.number] = entry
    except csv.Error:
        raise ConfigError(f"directory file {path} is not valid CSV (line {reader.line_num})") from None
    return entries, skipped, len(ambiguous)


def _entry(row: list[str], index: dict[str, int], key: Callable[[str], str | None]) -> DirectoryEntry | None:
    def cell(col: str) -> str:
        i = index[col]
        return row[i].strip() if i < len(row) else ""

    number = key(cell("number"))
    name = cell("name")
    if number is None or not name or any(unicodedata.category(ch).startswith("C") for ch in name):
        return None
    return DirectoryEntry(number=number, name=name, email=cell("email"))
