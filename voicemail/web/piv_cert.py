"""PIV / CAC client certificates: read one, check it against the configured issuer CAs, name it.

Pure: no HTTP, no database. Whoever terminated TLS (uvicorn or a reverse proxy) already verified the
certificate; this module checks it again, so that a misconfigured proxy cannot sign anybody in:

1. it is inside its validity period (``expired`` / ``not_yet_valid``);
2. it is an end-entity certificate signed directly by a CA certificate of ``web_client_ca_file`` that is
   itself a valid CA now (``wrong_issuer``) — every certificate in that file is a trusted issuer, so put
   the issuing (intermediate) CAs there, as for nginx ``ssl_client_certificate``;
3. its Extended Key Usage extension exists and includes clientAuth (``no_client_auth``). PIV
   Authentication and CAC identity certificates carry clientAuth; smartcardLogon alone is not enough.

The identity keys of a certificate (what `voicemail accounts map-cert` records) are
``sha256:<fingerprint>`` always, and from the subject alternative name ``upn:<UPN>`` (Microsoft UPN
otherName), ``fascn:<hex>`` (PIV FASC-N otherName) and ``uuid:<uuid>`` (PIV card UUID URI).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
FASCN_OID = ObjectIdentifier("2.16.840.1.101.3.6.6")
KEY_KINDS = ("sha256", "upn", "fascn", "uuid")

# Shown to the person at the card reader; the audit record carries the code and the certificate's fingerprint.
MESSAGES = {
    "no_certificate": "No smart card certificate was presented. Insert your PIV/CAC card, then try again.",
    "unreadable": "The certificate presented could not be read.",
    "expired": "Your smart card certificate has expired. Contact your card issuing office.",
    "not_yet_valid": "Your smart card certificate is not valid yet.",
    "wrong_issuer": "Your smart card certificate was not issued by a certificate authority this site accepts.",
    "no_client_auth": "This certificate is not a client authentication certificate. "
                      "Choose your PIV/CAC authentication certificate.",
    "unmapped": "Your smart card is not linked to an account here. Ask an administrator to link it.",
    "ambiguous": "Your smart card is linked to more than one account. Ask an administrator to correct it.",
    "disabled": "The account linked to your smart card is disabled.",
}


class CertificateRefused(Exception):
    """A presented certificate that must not sign anybody in; ``code`` is a key of MESSAGES."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or MESSAGES[code])
        self.code = code
        self.message = MESSAGES[code]
        self.detail = detail


_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def parse_certificate(data: bytes) -> x509.Certificate:
    """PEM (also with the line breaks turned into spaces, as some proxies send it) or DER."""
    try:
        found = _PEM.search(data)
        if found:
            body = b"".join(found.group(1).split())
            lines = b"\n".join(body[i:i + 64] for i in range(0, len(body), 64))
            return x509.load_pem_x509_certificate(b"-----BEGIN CERTIFICATE-----\n" + lines +
                                                  b"\n-----END CERTIFICATE-----\n")
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise CertificateRefused("unreadable") from None


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _der_value(raw: bytes, tag: int) -> bytes | None:
    """The content of one DER TLV with the given tag (short or long length), else None."""
    if len(raw) < 2 or raw[0] != tag:
        return None
    length, start = raw[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(raw) < 2 + count:
            return None
        length, start = int.from_bytes(raw[2:2 + count], "big"), 2 + count
    content = raw[start:start + length]
    return content if len(content) == length else None


def identity_keys(cert: x509.Certificate) -> list[str]:
    """Every stable name of the certificate that a mapping may use, most specific first."""
    keys = [f"sha256:{fingerprint(cert)}"]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return keys
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id == UPN_OID and (value := _der_value(other.value, 0x0C)) is not None:
            try:
                keys.append(f"upn:{value.decode('utf-8').strip().lower()}")
            except UnicodeDecodeError:
                continue
        elif other.type_id == FASCN_OID and (value := _der_value(other.value, 0x04)) is not None:
            keys.append(f"fascn:{value.hex()}")
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.lower().startswith("urn:uuid:"):
            keys.append(f"uuid:{uri[9:].lower()}")
    return keys


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _valid_at(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


@dataclass(frozen=True)
class Accepted:
    """A certificate that passed every check."""

    cert: x509.Certificate
    issuer: x509.Certificate
    keys: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)


class IssuerStore:
    """The CA certificates that may issue sign-in certificates (``web_client_ca_file``)."""

    def __init__(self, cas: Sequence[x509.Certificate]) -> None:
        if not cas:
            raise ValueError("no CA certificate")
        self._cas = list(cas)

    @classmethod
    def from_file(cls, path: str | Path) -> IssuerStore:
        return cls(x509.load_pem_x509_certificates(Path(path).read_bytes()))

    def _issuer_of(self, cert: x509.Certificate, now: dt.datetime) -> x509.Certificate | None:
        for ca in self._cas:
            if ca.subject != cert.issuer or not _is_ca(ca) or not _valid_at(ca, now):
                continue
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return ca
        return None

    def check(self, cert: x509.Certificate, now: dt.datetime | None = None) -> Accepted:
        """The certificate, checked; raises CertificateRefused saying why not."""
        now = now or dt.datetime.now(dt.UTC)
        if now > cert.not_valid_after_utc:
            raise CertificateRefused("expired", f"not valid after {cert.not_valid_after_utc.isoformat()}")
        if now < cert.not_valid_before_utc:
            raise CertificateRefused("not_yet_valid", f"not valid before {cert.not_valid_before_utc.isoformat()}")
        issuer = self._issuer_of(cert, now)
        if issuer is None:
            raise CertificateRefused("wrong_issuer", f"issuer {cert.issuer.rfc4514_string()[:200]}")
        if _is_ca(cert):
            raise CertificateRefused("no_client_auth", "a CA certificate")
        try:
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            raise CertificateRefused("no_client_auth", "no extended key usage extension") from None
        if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
            raise CertificateRefused("no_client_auth", "extended key usage lacks clientAuth")
        return Accepted(cert, issuer, tuple(identity_keys(cert)))
