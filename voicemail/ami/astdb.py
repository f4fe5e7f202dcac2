"""AstDB over AMI: ``DBPut`` / ``DBGet`` / ``DBDel``, shaped by what Asterisk 22 answers (capture q10).

* ``DBPut`` -> ``Response: Success`` / ``Updated database successfully`` (also when overwriting).
* ``DBGet`` of an existing key -> a list: ``DBGetResponse`` (``Family``, ``Key``, ``Val``) then
  ``DBGetComplete``; of a missing key -> ``Response: Error`` / ``Database entry not found``: None here.
* ``DBDel`` -> ``Success`` / ``Key deleted successfully``; of a missing key -> ``Response: Error`` /
  ``Database entry could not be deleted``: False here (deleting is idempotent).
* No AMI event reports a change.

Asterisk's AMI parser strips leading blanks of a header value, so a value is refused when it starts
with a blank (it would not come back as written); family and key are single path components.
"""

from __future__ import annotations

import re

from voicemail.ami.actions import ActionRunner
from voicemail.ami.client import AmiActionError
from voicemail.domain.errors import InvalidInput

# An AstDB path component: no '/', no blanks or control characters (they are header values on AMI)
KEY = re.compile(r"^[A-Za-z0-9_.:@+=-]{1,80}$")


def check_key(value: str, what: str = "key") -> str:
    if not KEY.match(value):
        raise InvalidInput(f"not an AstDB {what}: letters, digits and _ . : @ + = - only, at most 80")
    return value


def _check_value(value: str) -> str:
    if any(c in value for c in "\r\n") or value[:1] in (" ", "\t") or len(value) > 200:
        raise InvalidInput("an AstDB value is one line of at most 200 characters, not starting with a blank")
    return value


def _message(exc: AmiActionError) -> str:
    reply = exc.response
    return ((reply.get("Message") if reply is not None else None) or str(exc)).lower()


async def db_put(client: ActionRunner, family: str, key: str, value: str) -> None:
    """Store ``value``; raises AmiActionError when Asterisk refuses."""
    await client.action("DBPut", [("Family", check_key(family, "family")), ("Key", check_key(key)),
                                  ("Val", _check_value(value))])


async def db_get(client: ActionRunner, family: str, key: str) -> str | None:
    """The stored value ('' is a value), or None when there is no such entry."""
    try:
        reply = await client.action("DBGet", [("Family", check_key(family, "family")), ("Key", check_key(key))])
    except AmiActionError as exc:
        if "not found" in _message(exc):
            return None
        raise
    for item in reply.items:
        if item.event == "DBGetResponse":
            return item.get("Val") or ""
    return None


async def db_del(client: ActionRunner, family: str, key: str) -> bool:
    """Delete the entry. False when there was none."""
    try:
        await client.action("DBDel", [("Family", check_key(family, "family")), ("Key", check_key(key))])
    except AmiActionError as exc:
        if "could not be deleted" in _message(exc) or "not found" in _message(exc):
            return False
        raise
    return True
