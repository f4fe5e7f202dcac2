"""A directory with nobody in it: with no directory configured, every caller is external."""

from __future__ import annotations

from voicemail.domain.models import DirectoryEntry


class EmptyDirectory:
    def lookup(self, number: str) -> DirectoryEntry | None:
        return None
