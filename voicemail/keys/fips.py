"""FIPS mode: is OpenSSL's FIPS provider active for the crypto we use, and which settings pick
non-approved algorithms.

The ``cryptography`` package performs every AES-GCM, SHA-256 and Ed25519 operation of this program
through the OpenSSL it is linked against. ``fips_active`` asks that OpenSSL whether the FIPS provider
is enabled (``cryptography``'s ``is_fips_enabled``). Wheels from PyPI bundle their own OpenSSL without
the FIPS module, so FIPS mode needs ``cryptography`` built against the system OpenSSL with its FIPS
provider installed and enabled (see the README).
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from voicemail.domain.errors import ConfigError

# What this program uses when fips_mode is on, all approved (FIPS 140-3, SP 800-38D, FIPS 180-4, FIPS 186-5):
APPROVED = ("AES-256-GCM (data keys, sealed audio, KEK wrapping)", "SHA-256 (hashes, audit chain)",
            "Ed25519 (audit checkpoints, evidence manifests, destruction records)")


def fips_active() -> bool:
    """True when the OpenSSL used by ``cryptography`` runs with the FIPS provider enabled."""
    try:
        from cryptography.hazmat.backends.openssl.backend import backend
    except ImportError:  # pragma: no cover - cryptography always ships it
        return False
    return bool(backend._fips_enabled)


def openssl_fips_provider() -> str:
    """What the system ``openssl`` command says about its providers (for the error message)."""
    exe = shutil.which("openssl")
    if exe is None:
        return "no openssl command found"
    try:
        out = subprocess.run([exe, "list", "-providers"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "`openssl list -providers` failed"
    return "system OpenSSL has a FIPS provider loaded" if "fips" in out.lower() else \
        "system OpenSSL has no FIPS provider loaded"


def non_approved_choices(settings: Any) -> list[tuple[str, str]]:
    """(setting, why) for every configured choice that would use a non-approved algorithm."""
    out: list[tuple[str, str]] = []
    if getattr(settings, "mailer", "") == "ews" and getattr(settings, "ews_auth", "") == "ntlm":
        out.append(("ews_auth", "NTLM uses MD4 and HMAC-MD5 (not FIPS-approved); use oauth2 or basic over TLS"))
    return out


def require_fips(settings: Any) -> None:
    """Refuse to start when fips_mode is on but OpenSSL's FIPS provider is not active."""
    if not getattr(settings, "fips_mode", False):
        return
    if not fips_active():
        raise ConfigError("setting fips_mode (VOICEMAIL_FIPS_MODE): OpenSSL's FIPS provider is not active for "
                          f"the cryptography library ({openssl_fips_provider()}); refusing to start. Enable the "
                          "FIPS provider (see the README) or turn fips_mode off")
    for name, why in non_approved_choices(settings):
        raise ConfigError(f"setting {name} (VOICEMAIL_{name.upper()}): not allowed with fips_mode: {why}")
