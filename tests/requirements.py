"""What a test needs from outside Python: a system program, a library file, an npm module, Microsoft's EWS schema.

When it is missing the test skips with one line naming the package to install. Under ``CI=true`` the same
line fails the test instead, so a CI machine without the package can never lose coverage silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(what: str, install: str) -> NoReturn:
    """Skip (or, under CI=true, fail) the current test: ``what`` is missing, ``install`` says how to get it."""
    line = f"{what} is missing: {install}"
    if in_ci():
        pytest.fail(f"{line} (CI=true: a missing requirement fails the run)", pytrace=False)
    pytest.skip(line)


def require_binary(name: str, *, package: str) -> str:
    """The path of program ``name`` (looked up on PATH, then in /usr/sbin and /sbin)."""
    found = _which(name)
    if found is None:
        missing(f"the program {name}", f"apt-get install {package}")
    return found


def require_file(path: Path | str, *, package: str, install: str | None = None) -> Path:
    """``path`` must exist (a library, a browser, a module file ...)."""
    path = Path(path)
    if not path.is_file():
        missing(str(path), install or f"apt-get install {package}")
    return path


def require_ews_schema(folder: Path | None) -> Path:
    """Microsoft's EWS schema (messages.xsd, types.xsd) is not in the repository (its licence)."""
    if folder is None or not ((folder / "messages.xsd").is_file() and (folder / "types.xsd").is_file()):
        where = f"not found at {folder}" if folder is not None else "not configured"
        missing(f"Microsoft's EWS schema ({where})",
                "set VOICEMAIL_EWS_SCHEMA to a folder holding its messages.xsd and types.xsd")
    return folder


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/sbin"):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None
