"""Microsoft's EWS schema, loaded once with lxml. It is not in the repository (its licence): the folder
holding messages.xsd and types.xsd is named by VOICEMAIL_EWS_SCHEMA (.ci/run sets it when the schema lies
beside the checkout); tests that need it call ``require_schema()`` (skip, or fail under CI=true)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from lxml import etree

from tests.requirements import require_ews_schema

SCHEMA_DIR = Path(os.environ["VOICEMAIL_EWS_SCHEMA"]) if os.environ.get("VOICEMAIL_EWS_SCHEMA") else None
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
SKIP_REASON = (f"Microsoft's EWS schema not found at {SCHEMA_DIR}" if SCHEMA_DIR is not None
               else "Microsoft's EWS schema not configured") + " (set VOICEMAIL_EWS_SCHEMA)"


def schema_available() -> bool:
    return SCHEMA_DIR is not None and (SCHEMA_DIR / "messages.xsd").is_file() and (SCHEMA_DIR / "types.xsd").is_file()


def require_schema() -> Path:
    """The schema's folder; skips the test (fails it under CI=true) when the schema is not there."""
    return require_ews_schema(SCHEMA_DIR)


@cache
def ews_schema() -> etree.XMLSchema:
    """messages.xsd (which imports types.xsd): validates m: requests / responses and t: header elements."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(require_schema() / "messages.xsd"), parser))


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted XML: no entities, no network, no huge trees."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False)
    return etree.fromstring(data, parser)


def soap_problems(data: bytes) -> list[str]:
    """Everything wrong with a SOAP request or response against the schema ([] = valid)."""
    try:
        root = parse_xml(data)
    except etree.XMLSyntaxError as exc:
        return [f"not XML: {exc}"]
    if root.tag != f"{{{SOAP}}}Envelope":
        return [f"root is {root.tag}, not soap:Envelope"]
    problems: list[str] = []
    children = list(root)
    header = next((c for c in children if c.tag == f"{{{SOAP}}}Header"), None)
    body = next((c for c in children if c.tag == f"{{{SOAP}}}Body"), None)
    if body is None or len(body) != 1:
        return ["soap:Body must hold exactly one element"]
    schema = ews_schema()
    parts = ([*header] if header is not None else []) + [body[0]]
    for element in parts:
        if not schema.validate(element):
            problems.extend(f"{etree.QName(element).localname}: {error.message}" for error in schema.error_log)
    return problems
