"""Secure voicemail: custody of Asterisk voicemail recordings, sealed at rest, announced by mail."""

__version__ = "0.1.0"
