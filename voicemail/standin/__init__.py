"""An Asterisk stand-in that speaks AMI like the lab's Asterisk 22.10.1 and writes real app_voicemail
spool files (for ``voicemail demo`` and the tests; see asterisk-captures/CAPTURES.md)."""

from voicemail.standin.config import LAB_MAILBOXES, StandinConfig, StandinMailbox
from voicemail.standin.server import AsteriskStandin
from voicemail.standin.thread import StandinThread

__all__ = ["LAB_MAILBOXES", "AsteriskStandin", "StandinConfig", "StandinMailbox", "StandinThread"]
