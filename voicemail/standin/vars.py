"""``${...}`` substitution for the stand-in's dialplan steps: channel variables, ``EXTEN``, ``CHANNEL``,
``CALLERID(num|name)`` and the AstDB functions ``DB(family/key)`` / ``DB_EXISTS(family/key)``.

As in func_db.c, reading a key that exists sets ``DB_RESULT`` (a VarSet, sent while the arguments are
substituted, so before the step's Newexten -- capture q10); a missing key reads as empty and sets
nothing; ``DB_EXISTS`` gives ``1``/``0`` and sets ``DB_RESULT`` to the value when it exists.
"""

from __future__ import annotations

import re

from voicemail.standin.call import Call
from voicemail.standin.channel import Channel

_INNER = re.compile(r"\$\{([^${}]*)\}")
MAX_ROUNDS = 20


def substitute(call: Call, ch: Channel, text: str) -> str:
    for _ in range(MAX_ROUNDS):
        new = _INNER.sub(lambda m: _value(call, ch, m.group(1)), text)
        if new == text:
            return new
        text = new
    return text


def _value(call: Call, ch: Channel, expr: str) -> str:
    func, paren, rest = expr.partition("(")
    if paren and rest.endswith(")"):
        arg = rest[:-1]
        name = func.strip().upper()
        if name in ("DB", "DB_EXISTS"):
            family, _, key = arg.partition("/")
            value = call.pbx.astdb.get(family, key)
            if value is not None:
                call.varset(ch, "DB_RESULT", value)
            if name == "DB_EXISTS":
                return "1" if value is not None else "0"
            return value or ""
        if name == "CALLERID":
            part = arg.strip().lower()
            if part == "num":
                return ch.caller.num or ""
            if part == "name":
                return ch.caller.name or ""
            return ""
    builtin = {"EXTEN": ch.exten, "CHANNEL": ch.name, "CONTEXT": ch.context, "UNIQUEID": ch.uniqueid}
    if expr in builtin:
        return builtin[expr]
    return ch.variables.get(expr, "")
