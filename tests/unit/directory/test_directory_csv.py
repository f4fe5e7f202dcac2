"""CsvDirectory and number normalisation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from voicemail.directory import CsvDirectory, normalize_number
from voicemail.domain.errors import ConfigError
from voicemail.domain.models import DirectoryEntry
from voicemail.domain.ports import Directory


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding, newline="")
    return path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1001", "1001"),
        (" 1001 ", "1001"),
        ("+1 (202) 555-0123", "+12025550123"),
        ("202.555.0123", "2025550123"),
        ("+44 20 7946 0000", "+442079460000"),
        ("", None),
        ("Unknown", None),
        ("1001a", None),
        ("10+01", None),
        ("++1001", None),
        ("*98", None),
        ("1" * 21, None),
    ],
)
def test_normalize_number(raw: str, expected: str | None) -> None:
    assert normalize_number(raw) == expected


def test_csv_directory_implements_the_directory_port(tmp_path: Path) -> None:
    port: Directory = CsvDirectory(write(tmp_path / "d.csv", "number,name,email\n1001,Alice,\n"))
    assert port.lookup("1001") == DirectoryEntry("1001", "Alice", "")


def test_lookup_finds_entries_by_normalised_number(tmp_path: Path) -> None:
    directory = CsvDirectory(
        write(
            tmp_path / "d.csv",
            (
                "number,name,email\n"
                "1001,Alice Internal,alice@example.test\n"
                "+1 (202) 555-0100,Dana Desk,dana@example.test\n"
            ),
        )
    )
    assert directory.lookup("1001") == DirectoryEntry("1001", "Alice Internal", "alice@example.test")
    assert directory.lookup("+1-202-555-0100") == DirectoryEntry("+12025550100", "Dana Desk", "dana@example.test")
    assert directory.lookup("1002") is None
    assert directory.lookup("Unknown") is None
    assert directory.lookup("") is None


def test_bom_header_case_column_order_and_extra_columns_are_tolerated(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv",
        (" Email ,Department,NAME,Number\r\nbob@example.test,Sales,Bob Internal,1002\r\n"),
        encoding="utf-8-sig",
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert CsvDirectory(path).lookup("1002") == DirectoryEntry("1002", "Bob Internal", "bob@example.test")


def test_quoted_names_with_commas_are_read_whole(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", 'number,name,email\n2001,"Carol, Ops",\n')
    assert CsvDirectory(path).lookup("2001") == DirectoryEntry("2001", "Carol, Ops", "")


def test_rows_without_usable_number_or_name_are_skipped_and_counted(tmp_path: Path) -> None:
    directory = CsvDirectory(
        write(
            tmp_path / "d.csv",
            (
                "number,name,email\n"
                "1001,Alice,a@example.test\n"
                "not-a-number,Mallory,m@example.test\n"
                "1003,,x@example.test\n"
                "1004,Bad\x07Bell,b@example.test\n"
                ",,\n"
                "\n"
                "1005\n"
            ),
        )
    )
    assert len(directory) == 1
    assert directory.skipped_rows == 4
    assert directory.lookup("1003") is None
    assert directory.lookup("1004") is None


def test_a_number_listed_with_two_names_resolves_to_nobody(tmp_path: Path) -> None:
    directory = CsvDirectory(
        write(
            tmp_path / "d.csv",
            (
                "number,name,email\n"
                "1001,Alice,a@example.test\n"
                "10-01,Eve,e@example.test\n"
                "1001,Alice,a@example.test\n"
                "1002,Bob,b@example.test\n"
                "1002,Bob,b@example.test\n"
            ),
        )
    )
    assert directory.lookup("1001") is None
    assert directory.ambiguous_numbers == 1
    assert directory.lookup("1002") == DirectoryEntry("1002", "Bob", "b@example.test")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("number,name\n1001,Alice\n", "email"),
        ("phone,fullname,mail\n", "number, name, email"),
    ],
)
def test_bad_files_are_config_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        CsvDirectory(write(tmp_path / "d.csv", text))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not readable"):
        CsvDirectory(tmp_path / "missing.csv")


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes(b"number,name,email\n1001,J\xfcrgen,\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        CsvDirectory(tmp_path / "d.csv")


def test_oversized_file_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "number,name,email\n" + "1001,A,\n" * 100)
    with pytest.raises(ConfigError, match="larger than"):
        CsvDirectory(path, max_bytes=100)


def test_edits_on_disk_are_picked_up(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "number,name,email\n1001,Alice,\n")
    directory = CsvDirectory(path)
    assert directory.lookup("1002") is None
    write(tmp_path / "new.csv", "number,name,email\n1002,Bob,\n")
    os.replace(tmp_path / "new.csv", path)
    assert directory.lookup("1002") == DirectoryEntry("1002", "Bob", "")
    assert directory.lookup("1001") is None


def test_a_directory_file_that_disappears_fails_closed(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "number,name,email\n1001,Alice,\n")
    directory = CsvDirectory(path)
    path.unlink()
    with pytest.raises(ConfigError):
        directory.lookup("1001")
