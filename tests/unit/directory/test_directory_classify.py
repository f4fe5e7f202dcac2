"""classify(): DESIGN.md "Who is internal", on the envelopes Asterisk wrote in the captures."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.conftest import CAPTURES
from voicemail.directory import CsvDirectory, classify
from voicemail.domain.errors import TransientError
from voicemail.domain.models import Caller, CallerKind, DirectoryEntry, Envelope
from voicemail.spool import parse_envelope

INTERNAL = frozenset({"vmleave-int"})


def envelope(name: str) -> Envelope:
    return parse_envelope((CAPTURES / name).read_bytes())


VMLEAVE_INT = envelope("spool-2001-INBOX-msg0000.dialplan-vmleave-int.txt")  # "Alice Internal" <1001>
VMLEAVE_EXT = envelope("spool-2001-INBOX-msg0001.dialplan-vmleave-ext.txt")  # +12025550123
VMLEAVE_ANON = envelope("spool-2001-INBOX-msg0002.dialplan-vmleave-anon.txt")  # Unknown
AMI_Q1 = envelope("msg0000.txt")  # context=vmlab, "Alice Internal" <1001>
AMI_EXT = envelope("spool-1002-INBOX-msg0000.ami-callerid-external.txt")
AMI_NONE = envelope("spool-1002-INBOX-msg0001.ami-no-callerid.txt")


@pytest.fixture
def directory(tmp_path: Path) -> CsvDirectory:
    path = tmp_path / "directory.csv"
    path.write_text(
        "number,name,email\n"
        "1001,Alice Example (Directory),alice@example.test\n"
        "1002,Bob Internal,bob@example.test\n"
        "+1 202 555 0123,Somebody Listed,\n",
        encoding="utf-8",
    )
    return CsvDirectory(path)


def internal(name: str, number: str) -> Caller:
    return Caller(CallerKind.INTERNAL, name=name, number=number)


def with_callerid(env: Envelope, callerid: str) -> Envelope:
    return dataclasses.replace(env, callerid=callerid)


def test_internal_context_and_known_number_is_internal_with_the_directory_name(directory: CsvDirectory) -> None:
    assert classify(VMLEAVE_INT, INTERNAL, directory) == internal("Alice Example (Directory)", "1001")


def test_the_caller_supplied_name_is_never_used(directory: CsvDirectory) -> None:
    spoofed = with_callerid(VMLEAVE_INT, '"CEO - urgent wire transfer" <1001>')
    assert classify(spoofed, INTERNAL, directory) == internal("Alice Example (Directory)", "1001")


def test_number_only_callerid_from_internal_context_is_internal(directory: CsvDirectory) -> None:
    assert classify(with_callerid(VMLEAVE_INT, "<1002>"), INTERNAL, directory) == internal("Bob Internal", "1002")
    assert classify(with_callerid(VMLEAVE_INT, "1002"), INTERNAL, directory) == internal("Bob Internal", "1002")


def test_directory_number_is_returned_in_its_normalised_form(directory: CsvDirectory) -> None:
    caller = classify(with_callerid(VMLEAVE_INT, "+1 (202) 555-0123"), INTERNAL, directory)
    assert caller == internal("Somebody Listed", "+12025550123")


@pytest.mark.parametrize(
    ("env", "contexts"),
    [
        (VMLEAVE_EXT, INTERNAL),  # outside number from the trunk context
        (VMLEAVE_ANON, INTERNAL),  # callerid=Unknown
        (AMI_NONE, frozenset({"vmlab"})),  # callerid=Unknown even though vmlab were trusted
        (AMI_Q1, INTERNAL),  # internal number, but the call came from context vmlab (not trusted)
        (AMI_EXT, INTERNAL),
        (VMLEAVE_INT, frozenset()),  # no trusted contexts configured at all
        (VMLEAVE_INT, frozenset({"vmleave-ext"})),
    ],
)
def test_capture_envelopes_that_must_be_external(
    directory: CsvDirectory, env: Envelope, contexts: frozenset[str]
) -> None:
    assert classify(env, contexts, directory) == Caller.external()


def test_spoofed_internal_number_from_a_trunk_context_is_external(directory: CsvDirectory) -> None:
    spoofed = with_callerid(VMLEAVE_EXT, '"Alice Internal" <1001>')
    assert spoofed.context == "vmleave-ext"
    assert classify(spoofed, INTERNAL, directory) == Caller.external()


def test_listed_outside_number_from_a_trunk_context_is_external(directory: CsvDirectory) -> None:
    assert classify(VMLEAVE_EXT, INTERNAL, directory) == Caller.external()


@pytest.mark.parametrize(
    "callerid",
    [
        "",
        "Unknown",
        "anonymous",
        "Anonymous <anonymous>",
        '"Alice Internal"',
        "<>",
        "<sip:1001@evil>",
        "1001; DROP",
        '"x" <1001\r\nBcc: victim@example.test>',
        "<9999>",
        "<+1001>",
    ],
)
def test_unknown_withheld_malformed_or_unlisted_callers_are_external(directory: CsvDirectory, callerid: str) -> None:
    assert classify(with_callerid(VMLEAVE_INT, callerid), INTERNAL, directory) == Caller.external()


def test_external_callers_carry_no_data(directory: CsvDirectory) -> None:
    caller = classify(VMLEAVE_EXT, INTERNAL, directory)
    assert (caller.kind, caller.name, caller.number) == (CallerKind.EXTERNAL, None, None)


class BrokenDirectory:
    def lookup(self, number: str) -> DirectoryEntry | None:
        raise TransientError("LDAP server unreachable")


class NamelessDirectory:
    def lookup(self, number: str) -> DirectoryEntry | None:
        return DirectoryEntry(number=number, name="  ", email="")


def test_a_failing_directory_means_external() -> None:
    assert classify(VMLEAVE_INT, INTERNAL, BrokenDirectory()) == Caller.external()


def test_a_directory_entry_without_a_name_means_external() -> None:
    assert classify(VMLEAVE_INT, INTERNAL, NamelessDirectory()) == Caller.external()


def test_classify_accepts_any_set_of_contexts(directory: CsvDirectory) -> None:
    assert classify(VMLEAVE_INT, frozenset({"from-internal", "vmleave-int"}), directory).kind is CallerKind.INTERNAL
