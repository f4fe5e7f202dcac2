"""Dialplan steps as text: ``"Wait(2.4),SendDTMF(4242#,250,100),Wait(60),Hangup"``.

A step is ``App`` or ``App(data)``; steps are separated by commas outside parentheses. This is how the
stand-in's caller and phone contexts are written (the lab's ``vmphone``/``phonesim`` extensions and the
scripted callers and phones of ``StandinConfig``).
"""

from __future__ import annotations

from dataclasses import dataclass

from voicemail.domain.errors import ConfigError

CALLER_APPS = frozenset({"noop", "answer", "wait", "senddtmf", "hangup", "playback", "ringing", "busy",
                         "congestion", "set"})
DTMF_DIGITS = frozenset("0123456789*#ABCDabcdwW")
MAX_STEPS = 200


@dataclass(frozen=True)
class Step:
    app: str
    data: str = ""


def parse_steps(text: str) -> tuple[Step, ...]:
    """Parse a step list; raises ConfigError naming the first step that is not understood."""
    steps: list[Step] = []
    depth = 0
    cur: list[str] = []
    for c in text + ",":
        if c == "," and depth == 0:
            item = "".join(cur).strip()
            cur = []
            if item:
                steps.append(_step(item))
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"caller script: unbalanced ')' in {text[:60]!r}")
        cur.append(c)
    if depth:
        raise ConfigError(f"caller script: unbalanced '(' in {text[:60]!r}")
    if not steps or len(steps) > MAX_STEPS:
        raise ConfigError(f"caller script must have 1 to {MAX_STEPS} steps")
    return tuple(steps)


def _step(item: str) -> Step:
    app, paren, rest = item.partition("(")
    app = app.strip()
    data = ""
    if paren:
        if not rest.endswith(")"):
            raise ConfigError(f"caller script: step {item[:40]!r} must end with ')'")
        data = rest[:-1]
    if app.lower() not in CALLER_APPS:
        raise ConfigError(f"caller script: unknown application {app[:30]!r} (use {', '.join(sorted(CALLER_APPS))})")
    if any(c in data for c in "\r\n\x00"):
        raise ConfigError("caller script: a step may not contain line breaks")
    low = app.lower()
    if low == "wait":
        try:
            float(data)
        except ValueError:
            raise ConfigError(f"caller script: Wait needs seconds, not {data[:20]!r}") from None
    if low == "senddtmf":
        digits = data.split(",")[0]
        if not digits or not set(digits) <= DTMF_DIGITS:
            raise ConfigError(f"caller script: SendDTMF digits must be 0-9 * # A-D w W, not {digits[:20]!r}")
        for part in data.split(",")[1:3]:
            if part and not part.strip().isdigit():
                raise ConfigError("caller script: SendDTMF between/duration must be milliseconds")
    return Step(app, data)
