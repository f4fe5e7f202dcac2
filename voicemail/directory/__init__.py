"""Caller classification: who is internal, from a directory (a CSV file for small sites)."""

from voicemail.directory.classify import classify
from voicemail.directory.csv_directory import CsvDirectory
from voicemail.directory.empty import EmptyDirectory
from voicemail.directory.numbers import normalize_number

__all__ = ["CsvDirectory", "EmptyDirectory", "classify", "normalize_number"]
