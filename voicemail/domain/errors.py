"""Domain errors. They carry no transport codes; the CLI / web layers map them."""

from __future__ import annotations


class VoicemailError(Exception):
    """Base of every error this project raises on purpose."""


class InvalidInput(VoicemailError):
    """Input that is malformed or hostile; nothing was changed."""


class InvalidMailbox(InvalidInput):
    """A mailbox or context name that is not a plain identifier (e.g. contains '../')."""


class MalformedEnvelope(InvalidInput):
    """A spool msgNNNN.txt that is truncated, missing keys, or otherwise unusable."""


class UnsupportedFormat(InvalidInput):
    """A recording format we cannot make a placeholder for; the audio is left in place."""


class NotFound(VoicemailError):
    """The thing asked for does not exist (or the caller may not know that it does)."""


class IntegrityError(VoicemailError):
    """A sealed blob failed authentication: truncated, reordered, edited, or the wrong key."""


class KeyringError(VoicemailError):
    """The keyring is missing, unreadable, has unsafe permissions, or lacks the key asked for."""


class TransientError(VoicemailError):
    """Worth retrying later: a peer is down, busy or slow."""


class PermanentError(VoicemailError):
    """Retrying cannot help; park the work in the dead-letter table."""


class CrashLoop(PermanentError):
    """A message's custody runs keep ending without finishing (the worker dies during the work): it is
    parked instead of being run again."""


class LeaseLost(TransientError):
    """Another worker took over this work (our lease ended); this one must not commit it."""


class ListenerLeaseLost(LeaseLost):
    """This process no longer holds its site's listener lease (a stand-by took over): it must stop listening."""


class SpoolChanged(TransientError):
    """Asterisk renumbered or changed the spool under us; look again."""


class AmiError(TransientError):
    """The AMI connection failed or an action timed out."""


class ConfigError(VoicemailError):
    """A setting is missing or invalid. The message names the setting."""


class RangeNotSatisfiable(InvalidInput):
    """A byte range outside the audio (HTTP maps it to 416). ``total`` is the audio's length when known."""

    def __init__(self, message: str, total: int | None = None) -> None:
        super().__init__(message)
        self.total = total


class Conflict(VoicemailError):
    """The request cannot be done in the thing's current state (e.g. a message that is still being sealed)."""


class FeatureUnavailable(Conflict):
    """A feature this site has not set up (e.g. "Play on my phone" without a device template); the
    message says which, in words for the user."""
