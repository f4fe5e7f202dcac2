"""A throw-away PKI generated at test time (never committed): CAs, a server certificate and client
certificates shaped like PIV / CAC authentication certificates (clientAuth EKU, UPN and FASC-N in the
subject alternative name), plus the broken ones the app must refuse."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
FASCN_OID = ObjectIdentifier("2.16.840.1.101.3.6.6")
NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        """cert and key files (key 0600) for ssl.load_cert_chain."""
        cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
        cert_path.write_bytes(self.pem)
        key_path.write_bytes(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        key_path.chmod(0o600)
        return cert_path, key_path


def _der_utf8(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 128
    return bytes([0x0C, len(raw)]) + raw


def _der_octets(raw: bytes) -> bytes:
    assert len(raw) < 128
    return bytes([0x04, len(raw)]) + raw


def make_ca(name: str, *, not_after: dt.datetime | None = None, parent: Issued | None = None) -> Issued:
    """A root CA, or with ``parent`` an intermediate (issuing) CA signed by it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Agency"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer = parent.cert.subject if parent else subject
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - 30 * DAY)
            .not_valid_after(not_after or NOW + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(parent.key if parent else key, hashes.SHA256()))
    return Issued(cert, key)


def issue(ca: Issued, common_name: str, *, eku: list[ObjectIdentifier] | None = None, upn: str | None = None,
          fascn: bytes | None = None, dns: str | None = None, not_before: dt.datetime | None = None,
          not_after: dt.datetime | None = None) -> Issued:
    """A leaf certificate signed by ``ca``. ``eku=None`` = clientAuth (+ smartcardLogon, as on a CAC);
    ``eku=[]`` = no EKU extension at all."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Agency"),
                                        x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .issuer_name(ca.cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before or NOW - DAY).not_valid_after(not_after or NOW + 90 * DAY)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                              critical=False))
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH, ObjectIdentifier("1.3.6.1.4.1.311.20.2.2")] if eku is None else eku
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    names: list[x509.GeneralName] = []
    if upn:
        names.append(x509.OtherName(UPN_OID, _der_utf8(upn)))
    if fascn:
        names.append(x509.OtherName(FASCN_OID, _der_octets(fascn)))
    if dns:
        names.append(x509.DNSName(dns))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def server_cert(ca: Issued) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - DAY).not_valid_after(NOW + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca.key, hashes.SHA256()))
    return Issued(cert, key)


@dataclass(frozen=True)
class TestPki:
    """Everything a PIV test needs, written to ``folder``."""

    folder: Path
    root: Issued  # the accepted issuer (web_client_ca_file)
    rogue: Issued  # a CA nobody configured
    alice: Issued  # valid, clientAuth, UPN alice@test.example
    bob: Issued  # valid, clientAuth, no UPN
    expired: Issued
    not_yet_valid: Issued
    wrong_issuer: Issued  # signed by rogue
    no_eku: Issued  # no Extended Key Usage extension at all
    email_only: Issued  # EKU emailProtection only
    server: Issued  # uvicorn's server certificate (signed by root)

    @property
    def ca_file(self) -> Path:
        return self.folder / "client-ca.pem"


def build(folder: Path) -> TestPki:
    root, rogue = make_ca("Test PIV Root CA"), make_ca("Rogue CA")
    pki = TestPki(
        folder=folder, root=root, rogue=rogue,
        alice=issue(root, "ALICE.A.ADAMS.1000000001", upn="alice@test.example", fascn=bytes(range(25))),
        bob=issue(root, "BOB.B.BROWN.1000000002"),
        expired=issue(root, "OLD.O.OLDS.1000000003", not_before=NOW - 400 * DAY, not_after=NOW - DAY),
        not_yet_valid=issue(root, "NEW.N.NEWS.1000000004", not_before=NOW + 10 * DAY, not_after=NOW + 90 * DAY),
        wrong_issuer=issue(rogue, "EVE.E.EVIL.1000000005"),
        no_eku=issue(root, "NOEKU.N.NONE.1000000006", eku=[]),
        email_only=issue(root, "MAIL.M.ONLY.1000000007", eku=[ExtendedKeyUsageOID.EMAIL_PROTECTION]),
        server=server_cert(root),
    )
    pki.ca_file.write_bytes(root.pem)
    return pki
