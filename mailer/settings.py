"""The site's wording and addresses for notifications (configured by the administrator)."""

from __future__ import annotations

import string
from dataclasses import dataclass

from mailer.sanitize import has_control, is_plain_address
from voicemail.domain.errors import ConfigError

# The only fields the internal subject template may name. External callers have no template at all.
INTERNAL_SUBJECT_FIELDS = frozenset({"name", "number"})
MAX_SUBJECT = 160


def check_address(value: str, what: str) -> str:
    """A bare addr-spec (``local@domain``) with no display name, spaces or control characters."""
    if not is_plain_address(value):
        raise ConfigError(f"{what} must be a plain e-mail address like voicemail@example.org")
    return value


def check_subject_template(template: str) -> str:
    """Allow only ``{name}`` and ``{number}``, with no conversions, format specs or attribute access."""
    if has_control(template) or len(template) > MAX_SUBJECT:
        raise ConfigError(
            f"internal_subject_template must be one printable line of at most {MAX_SUBJECT} characters"
        )
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"internal_subject_template is not a valid template: {exc}") from None
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in INTERNAL_SUBJECT_FIELDS or spec or conversion:
            raise ConfigError(
                "internal_subject_template may only use the fields {name} and {number}, "
                f"without conversions or format specs (found {{{field[:20]}...}})"
            )
    return template


@dataclass(frozen=True)
class MailSettings:
    """How notifications read. Every field is checked when the settings are built.

    ``external_subject`` is a fixed string: it is never formatted, so it cannot carry caller data.
    """

    sender: str  # plain address, e.g. voicemail@example.org
    site_name: str = "Voicemail"  # shown as the sender's display name and in the footer
    external_subject: str = "Voice message from an outside caller"
    internal_subject_template: str = "Voice message from {name} ({number})"
    urgent_subject_prefix: str = "[Urgent] "

    def __post_init__(self) -> None:
        check_address(self.sender, "mail sender")
        check_subject_template(self.internal_subject_template)
        for what, value in (
            ("site_name", self.site_name),
            ("external_subject", self.external_subject),
            ("urgent_subject_prefix", self.urgent_subject_prefix),
        ):
            if has_control(value) or len(value) > MAX_SUBJECT:
                raise ConfigError(
                    f"{what} must be one printable line of at most {MAX_SUBJECT} characters"
                )
        if not self.external_subject.strip():
            raise ConfigError("external_subject must not be empty")

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2].lower()
