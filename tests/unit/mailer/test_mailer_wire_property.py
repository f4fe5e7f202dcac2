"""Proof of the disclosure rule on every backend's wire form, over hostile caller names and numbers.

For each generated caller, the same notification is rendered the way each sender puts it on the wire:
the EWS SOAP request (exactly what EwsMailer POSTs), the Graph sendMail JSON, the SMTP message bytes and
the outbox ``.eml``. Then:

- external (including a spoofed internal number arriving from an outside context): every wire form is
  byte-identical to the one of a caller with no data at all, so no caller byte can be anywhere; and the
  leak detector (number, its digit runs, name, hashes of both) finds nothing;
- internal: the name and the number appear exactly once in each part that shows the caller (subject,
  plain text, HTML), correctly encoded (the decoded subject is exactly the composed one; the HTML holds the
  escaped form), nowhere else, and no header or property beyond the fixed set was added.
"""

from __future__ import annotations

import hashlib
import html
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from mailer import OutboxMailer, compose
from mailer.compose import CALLER_NAME_LIMIT, CALLER_NUMBER_LIMIT
from mailer.ews import EwsConfig, EwsMailer
from mailer.graph import render_graph_request
from mailer.sanitize import one_line, phone_number
from mailer.smtp import SmtpConfig, SmtpMailer
from tests.integration.mail.ews_schema import SOAP, T, require_schema, soap_problems
from tests.unit.mailer.mailer_testdata import SENT, SETTINGS, facts, parse
from voicemail.directory.classify import classify
from voicemail.domain.models import Caller, CallerKind, DirectoryEntry, Envelope, OutgoingEmail

EWS = EwsMailer(EwsConfig(endpoint="https://mail.example.org/EWS/Exchange.asmx", sender="voicemail@example.org",
                          username="EXAMPLE\\svc-voicemail", password="unused", auth="ntlm"))
SMTP = SmtpMailer(SmtpConfig(host="smtp.example.org", sender="voicemail@example.org"), clock=lambda: SENT)
EML_HEADERS = {"from", "to", "subject", "date", "message-id", "sensitivity", "auto-submitted",
               "x-auto-response-suppress", "x-voicemail-id", "mime-version", "content-type"}
EML_URGENT_HEADERS = EML_HEADERS | {"importance", "x-priority"}
GRAPH_MESSAGE_KEYS = {"subject", "body", "toRecipients", "importance", "internetMessageHeaders",
                      "singleValueExtendedProperties"}
EWS_MESSAGE_ELEMENTS = {"Subject", "Sensitivity", "Body", "Importance", "ReminderIsSet",
                        "ReminderMinutesBeforeStart", "ExtendedProperty", "ToRecipients", "IsReadReceiptRequested",
                        "IsDeliveryReceiptRequested", "IsRead", "IsResponseRequested"}

# --- hostile input --------------------------------------------------------------------------------
HOSTILE_PIECES = [
    "\r\n", "\n", "\r", "\x00", "\r\nBcc: attacker@evil.test\r\n", "\nX-Injected: yes", "\x1b[2J", "\x85",
    "\u2028", "\u2029", "=?utf-8?b?RXZl?=", "=?iso-8859-1?q?=41lice?=", "=?UTF-8?Q?=0D=0ABcc:_x@evil.test?=",
    "\u202e", "\u202d", "\u2066", "\u2067", "\u2069", "\u200f", "\u200b", "\ufeff", "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>', "&amp;", "&#x3c;", "]]>", "<![CDATA[", "</t:Subject>", '{"a":"b"}', "\\",
    "'", '"', "%0d%0a", "\t", "Ω", "Zoë", "李", "🙂", "١٢٣٤", "１２３４", "𝟏𝟐𝟑𝟒", "O0", "l1",
]
NAME_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
NAMES = st.one_of(
    st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), NAME_TEXT), min_size=1, max_size=6).map("".join),
    st.builds(lambda filler, tail: filler * 10_000 + tail, st.sampled_from(["E", "é", "\u202e", "<"]), NAME_TEXT),
)
NUMBERS = st.one_of(
    st.from_regex(r"\+?[0-9]{3,15}", fullmatch=True),
    st.lists(st.one_of(st.sampled_from(["+", "1", "0", "555", "\r\n", "\x00", "１２", "٣٤", "<b>", " ", "#", "*"]),
                       st.from_regex(r"[0-9]{1,6}", fullmatch=True)), min_size=1, max_size=8).map("".join),
    st.just("9" * 10_000),
)


@dataclass(frozen=True)
class Wire:
    """One notification as each backend puts it on the wire."""

    ews: bytes
    graph: bytes
    smtp: bytes
    eml: bytes

    def forms(self) -> dict[str, bytes]:
        return {"ews": self.ews, "graph": self.graph, "smtp": self.smtp, "eml": self.eml}


def wire(email: OutgoingEmail) -> Wire:
    with tempfile.TemporaryDirectory() as folder:
        outbox = OutboxMailer(Path(folder), clock=lambda: SENT)
        outbox.send(email)
        eml = outbox.path_for(email.notification_id).read_bytes()
    return Wire(ews=EWS.render_request(email), graph=render_graph_request(email), smtp=SMTP.render(email), eml=eml)


BASELINE = {urgent: wire(compose(facts(Caller.external(), urgent=urgent), SETTINGS)) for urgent in (False, True)}


def secrets(name: str, number: str) -> set[str]:
    """What must not appear for an outside caller: name, number, digit runs of 4+, hashes."""
    found: set[str] = set()
    for value in (name, number, one_line(name, CALLER_NAME_LIMIT), phone_number(number, CALLER_NUMBER_LIMIT)):
        if len(value) >= 4:
            found.add(value[:200])
            data = value.encode("utf-8", "surrogatepass")
            found.update(h(data).hexdigest() for h in (hashlib.md5, hashlib.sha1, hashlib.sha256))
    digits = phone_number(number, 10_000).lstrip("+")
    found.update(digits[i:i + 4] for i in range(max(0, len(digits) - 3)))
    return found


def text_forms(raw: bytes) -> list[str]:
    text = raw.decode("utf-8", "replace")
    return [text, html.unescape(text), html.unescape(html.unescape(text))]


def assert_no_caller_data(forms: dict[str, bytes], baseline: Wire, name: str, number: str) -> None:
    assert forms == baseline.forms()  # byte-identical to a caller with no data at all
    everything = "\n".join(form for raw in forms.values() for form in text_forms(raw)).lower()
    allowed = "\n".join(form for raw in baseline.forms().values() for form in text_forms(raw)).lower()
    for secret in secrets(name, number):
        if secret.lower() not in allowed:  # e.g. "2026" is in the date of every notification
            assert secret.lower() not in everything


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=NAMES, number=NUMBERS, urgent=st.booleans())
def test_an_external_caller_appears_in_no_wire_form(name: str, number: str, urgent: bool) -> None:
    email = compose(facts(Caller(CallerKind.EXTERNAL, name=name, number=number), urgent=urgent), SETTINGS)
    assert_no_caller_data(wire(email).forms(), BASELINE[urgent], name, number)


class _Directory:
    def __init__(self, entry: DirectoryEntry) -> None:
        self.entry = entry

    def lookup(self, number: str) -> DirectoryEntry | None:
        return self.entry if number == self.entry.number else None


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=NAMES, directory_name=NAMES, number=st.from_regex(r"[1-9][0-9]{3,5}", fullmatch=True),
       context=st.sampled_from(["from-trunk", "from-pstn", "default", "vm-internal-x", ""]))
def test_a_spoofed_internal_number_from_outside_appears_in_no_wire_form(name: str, directory_name: str,
                                                                        number: str, context: str) -> None:
    directory = _Directory(DirectoryEntry(number=number, name=directory_name, email="colleague@example.org"))
    callerid = '"{}" <{}>'.format(name.replace("\\", "\\\\").replace('"', '\\"'), number)
    envelope = Envelope(msg_id="1795978545-00000000", origmailbox="1001", context=context, exten="1001",
                        callerid=callerid, origtime=1795978545, duration=63)
    caller = classify(envelope, frozenset({"vm-internal"}), directory)
    assert caller.kind is CallerKind.EXTERNAL
    email = compose(facts(caller), SETTINGS)
    assert_no_caller_data(wire(email).forms(), BASELINE[False], name, number)
    assert_no_caller_data(wire(email).forms(), BASELINE[False], directory_name, number)


def _count(haystack: str, needle: str) -> int:
    return haystack.count(needle)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=NAMES, number=NUMBERS, urgent=st.booleans())
def test_an_internal_caller_is_named_exactly_once_per_part_correctly_encoded(name: str, number: str,
                                                                              urgent: bool) -> None:
    shown_name, shown_number = one_line(name, CALLER_NAME_LIMIT), phone_number(number, CALLER_NUMBER_LIMIT)
    baseline = "\n".join(form for raw in BASELINE[urgent].forms().values() for form in text_forms(raw))
    assume(len(shown_name) >= 3 and len(shown_number) >= 3)
    assume(shown_name not in baseline and shown_number not in baseline)
    assume(shown_number not in shown_name and shown_name not in shown_number)
    email = compose(facts(Caller(CallerKind.INTERNAL, name=name, number=number), urgent=urgent), SETTINGS)
    expected_subject = ("[Urgent] " if urgent else "") + f"Voice message from {shown_name} ({shown_number})"
    assume(len(expected_subject) <= 160)
    assert email.subject == expected_subject
    forms = wire(email)

    # .eml and SMTP: the same bytes; the subject decodes exactly; once per part; no header added
    assert forms.smtp == forms.eml
    assert b"\x00" not in forms.eml and b"\n" not in forms.eml.replace(b"\r\n", b"")
    message = parse(forms.eml)
    assert {key.lower() for key in message} == (EML_URGENT_HEADERS if urgent else EML_HEADERS)
    assert message["Subject"] == expected_subject
    head = forms.eml.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # non-ASCII only as RFC 2047 encoded words
    for key, value in message.items():
        if key.lower() != "subject":
            assert shown_name not in str(value) and shown_number not in str(value)
    plain, markup = (part.get_content() for part in message.iter_parts())
    # the number once more in the call-back link (tel:, where "#" is written %23)
    in_link = 1 if "#" not in shown_number else 0
    assert _count(plain, shown_name) == 1 and _count(plain, shown_number) == 1 + in_link
    assert _count(markup, html.escape(shown_name, quote=True)) == 1
    assert _count(html.unescape(markup), shown_name) == 1
    assert _count(html.unescape(markup), shown_number) == 1 + in_link

    # EWS: subject exact, body once, only the fixed elements (schema-valid: the test below)
    root = etree.fromstring(forms.ews, etree.XMLParser(resolve_entities=False, no_network=True))
    soap_body = root.find(f"{{{SOAP}}}Body")
    assert soap_body is not None
    item = soap_body[0].find(f".//{{{T}}}Message")
    assert item is not None
    elements = {child.tag.split("}")[1]: child for child in item}
    assert set(elements) == EWS_MESSAGE_ELEMENTS
    assert len(item.findall(f"{{{T}}}ExtendedProperty")) == 1
    assert elements["Subject"].text == expected_subject
    body = elements["Body"].text or ""
    assert body == email.html and _count(html.unescape(body), shown_name) == 1
    others = [el.text or "" for el in item.iter() if el.tag not in (f"{{{T}}}Subject", f"{{{T}}}Body")]
    assert not any(shown_name in text or shown_number in text for text in others)

    # Graph: subject exact, body once, only X-Voicemail-Id as a header
    payload = json.loads(forms.graph.decode("utf-8"))
    graph_message = payload["message"]
    assert set(graph_message) == GRAPH_MESSAGE_KEYS
    assert graph_message["subject"] == expected_subject
    assert _count(html.unescape(graph_message["body"]["content"]), shown_name) == 1
    assert graph_message["internetMessageHeaders"] == [{"name": "X-Voicemail-Id", "value": email.notification_id}]
    assert graph_message["importance"] == ("high" if urgent else "normal")


def test_every_ews_request_is_valid_against_microsofts_schema() -> None:
    """The EWS form of internal, external and spoofed callers, urgent or not, against messages.xsd."""
    require_schema()
    check_ews_schema()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=NAMES, number=NUMBERS, urgent=st.booleans(),
       kind=st.sampled_from([CallerKind.INTERNAL, CallerKind.EXTERNAL]))
def check_ews_schema(name: str, number: str, urgent: bool, kind: CallerKind) -> None:
    email = compose(facts(Caller(kind, name=name, number=number), urgent=urgent), SETTINGS)
    assert soap_problems(wire(email).ews) == []
