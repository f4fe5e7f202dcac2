"""Validation of the lifecycle settings (called from voicemail.config._validate)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from voicemail.domain.errors import ConfigError
from voicemail.lifecycle.policy import ALL_CLASSES, check_periods

KEYRING_BACKENDS = ("file", "pkcs11")
MAX_KEK_WRAPS = 1 << 31  # half the 2^32 random-nonce bound of AES-GCM


def _bad(name: str, why: str) -> ConfigError:
    return ConfigError(f"setting {name} (VOICEMAIL_{name.upper()}): {why}")


def check_lifecycle_settings(s: Any) -> None:
    names = {f.name for f in fields(s)}
    problem = check_periods({c.setting: int(getattr(s, c.setting)) for c in ALL_CLASSES if c.setting in names})
    if problem is not None:
        name, why = problem.split(": ", 1)
        raise _bad(name, why)
    for name in ("retention_warn_days", "quota_site_bytes", "quota_mailbox_bytes", "retention_interval",
                 "kek_retire_grace", "retention_max_clock_skew"):
        if getattr(s, name) < 0:
            raise _bad(name, "must not be negative")
    for name in ("retention_batch", "rewrap_batch"):
        if not 1 <= getattr(s, name) <= 100_000:
            raise _bad(name, "must be between 1 and 100000")
    if not 1 <= s.retention_workers <= 64:
        raise _bad("retention_workers", "must be between 1 and 64")
    if not 1 <= s.kek_max_wraps <= MAX_KEK_WRAPS:
        raise _bad("kek_max_wraps", f"must be between 1 and {MAX_KEK_WRAPS} (2^31): AES-GCM with random nonces "
                   "must stay far below 2^32 encryptions per key")
    if s.keyring_backend not in KEYRING_BACKENDS:
        raise _bad("keyring_backend", f"expected file or pkcs11, got {s.keyring_backend[:20]!r}")
    if s.keyring_backend == "pkcs11":
        if not s.pkcs11_module:
            raise _bad("pkcs11_module", "required with keyring_backend = pkcs11")
        if not s.pkcs11_token_label:
            raise _bad("pkcs11_token_label", "required with keyring_backend = pkcs11")
    if s.fips_mode:
        from voicemail.keys.fips import non_approved_choices

        for name, why in non_approved_choices(s):
            raise _bad(name, f"not allowed with fips_mode: {why}")
