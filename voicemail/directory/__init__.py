"""Caller classification: who is internal, from a directory (a CSV file for small sites, or a copy of
Active Directory / LDAP synced into the database)."""

from voicemail.directory.classifier import ClassificationCounters, Classifier
from voicemail.directory.classify import Verdict, classify, decide
from voicemail.directory.csv_directory import CsvDirectory
from voicemail.directory.empty import EmptyDirectory
from voicemail.directory.numbers import normalize_number
from voicemail.directory.plan import NumberPlan

__all__ = ["ClassificationCounters", "Classifier", "CsvDirectory", "EmptyDirectory", "NumberPlan", "Verdict",
           "classify", "decide", "normalize_number"]
