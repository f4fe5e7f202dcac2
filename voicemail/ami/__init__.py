"""Asterisk Manager Interface: a pure parser, a thin asyncio client, typed actions, the listener."""
