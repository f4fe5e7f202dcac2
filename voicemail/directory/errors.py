"""Directory errors. Both are transient: the next scheduled sync (or lookup) may succeed."""

from __future__ import annotations

from voicemail.domain.errors import TransientError


class DirectoryUnavailable(TransientError):
    """The directory server cannot be reached or read, or the synced copy is too old to be trusted."""


class SyncInProgress(TransientError):
    """Another directory sync holds the lease; this one did not start."""
