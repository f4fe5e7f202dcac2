"""app_voicemail's file spool: read msgNNNN.txt envelopes, find messages, swap in placeholders."""

from voicemail.spool.envelope import MAX_ENVELOPE_BYTES, parse_callerid, parse_envelope
from voicemail.spool.file_spool import FileSpool
from voicemail.spool.placeholder import SUPPORTED_FORMATS, is_placeholder_bytes, placeholder_bytes
from voicemail.spool.safe_fs import SpoolPathRefused

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "SUPPORTED_FORMATS",
    "FileSpool",
    "SpoolPathRefused",
    "is_placeholder_bytes",
    "parse_callerid",
    "parse_envelope",
    "placeholder_bytes",
]
