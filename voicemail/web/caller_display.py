"""How a message's caller is shown on the web pages, with how far the shown identity can be trusted.

An internal caller's name and number come from our directory (the call arrived on an internal
extension): shown as "Name (1001)" with the mark "Internal · verified". Anything an outside caller's
phone network sends (name and number) is the caller's own claim, and can be anything, a colleague's
name and extension included: it is shown as "Caller says “Name” (1002)" with the mark
"Outside · not verified". Who may see an outside caller's identity at all is decided by the mailbox
service; when it is withheld here the page says only "Outside caller".
"""

from __future__ import annotations

from dataclasses import dataclass

from voicemail.domain.mailbox import InboxItem


@dataclass(frozen=True)
class CallerDisplay:
    kind: str  # internal | external | anonymous
    text: str  # what the page shows as "From"
    badge: str  # the verification mark, words not colour
    verified: bool

    @property
    def sentence(self) -> str:
        """One line for headings and screen-reader link text."""
        return f"{self.text} ({self.badge})"


def claimed(name: str | None, number: str | None) -> str:
    if name and number:
        return f"“{name}” ({number})"
    return f"“{name}”" if name else (number or "")


def caller_display(m: InboxItem) -> CallerDisplay:
    if m.caller_kind == "internal":
        if m.caller_name and m.caller_number:
            text = f"{m.caller_name} ({m.caller_number})"
        else:
            text = m.caller_name or m.caller_number or "Unknown internal caller"
        return CallerDisplay("internal", text, "Internal · verified by the directory", True)
    if m.caller_kind == "anonymous":
        return CallerDisplay("anonymous", "Anonymous caller", "Outside · number withheld", False)
    said = claimed(m.caller_name, m.caller_number)
    text = f"Caller says {said}" if said else "Outside caller"
    return CallerDisplay("external", text, "Outside · not verified", False)


def caller_label(m: InboxItem) -> str:
    return caller_display(m).sentence
