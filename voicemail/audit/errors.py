"""Errors of the investigation features (mapped by the CLI like every VoicemailError: exit 1)."""

from __future__ import annotations

from voicemail.domain.errors import VoicemailError


class AccessDenied(VoicemailError):
    """The actor lacks the role, is not a member of the case, or would approve their own request."""


class HeldError(VoicemailError):
    """The message is under a legal hold and cannot be deleted, expired or evicted."""
