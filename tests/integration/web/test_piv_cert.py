"""The app's own check of a client certificate, and where a request's certificate is taken from."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.integration.web import pki
from voicemail.web.piv_cert import CertificateRefused, IssuerStore, identity_keys, parse_certificate
from voicemail.web.piv_source import parse_networks, presented_certificate


@pytest.fixture(scope="module")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> pki.TestPki:
    return pki.build(tmp_path_factory.mktemp("pki"))


def refusal(store: IssuerStore, issued: pki.Issued) -> str:
    with pytest.raises(CertificateRefused) as caught:
        store.check(issued.cert)
    return caught.value.code


def test_valid_piv_certificate_is_accepted_with_its_identity_keys(test_pki: pki.TestPki) -> None:
    accepted = IssuerStore.from_file(test_pki.ca_file).check(test_pki.alice.cert)
    assert accepted.issuer.subject == test_pki.root.cert.subject
    assert accepted.keys[0] == "sha256:" + test_pki.alice.cert.fingerprint(hashes.SHA256()).hex()
    assert "upn:alice@test.example" in accepted.keys
    assert "fascn:" + bytes(range(25)).hex() in accepted.keys


def test_expired_not_yet_valid_wrong_issuer_and_missing_eku_are_refused(test_pki: pki.TestPki) -> None:
    store = IssuerStore.from_file(test_pki.ca_file)
    assert refusal(store, test_pki.expired) == "expired"
    assert refusal(store, test_pki.not_yet_valid) == "not_yet_valid"
    assert refusal(store, test_pki.wrong_issuer) == "wrong_issuer"
    assert refusal(store, test_pki.no_eku) == "no_client_auth"
    assert refusal(store, test_pki.email_only) == "no_client_auth"
    assert refusal(store, test_pki.root) == "no_client_auth"  # a CA certificate is no sign-in certificate


def test_forged_certificate_naming_the_right_issuer_is_refused(test_pki: pki.TestPki) -> None:
    """Same issuer name as the configured CA, signed by another key: the signature check catches it."""
    impostor = pki.make_ca("Test PIV Root CA")  # same subject, different key
    forged = pki.issue(impostor, "ALICE.A.ADAMS.1000000001", upn="alice@test.example")
    assert refusal(IssuerStore.from_file(test_pki.ca_file), forged) == "wrong_issuer"


def test_expired_issuing_ca_refuses_its_certificates(test_pki: pki.TestPki) -> None:
    old_ca = pki.make_ca("Old CA", not_after=pki.NOW - pki.DAY)
    leaf = pki.issue(old_ca, "X.Y.Z.1")
    assert refusal(IssuerStore([old_ca.cert]), leaf) == "wrong_issuer"


def test_intermediate_issuer_in_the_bundle_is_accepted(test_pki: pki.TestPki) -> None:
    intermediate = pki.make_ca("Test PIV Issuing CA 1", parent=test_pki.root)
    leaf = pki.issue(intermediate, "CAROL.C.CARR.1000000009")
    assert IssuerStore([test_pki.root.cert, intermediate.cert]).check(leaf.cert).issuer == intermediate.cert
    assert refusal(IssuerStore([test_pki.root.cert]), leaf) == "wrong_issuer"  # its issuer must be configured


def test_pem_with_spaces_url_encoded_and_der_all_parse(test_pki: pki.TestPki) -> None:
    pem = test_pki.alice.pem
    flattened = pem.replace(b"\n", b" ")  # Apache's SSL_CLIENT_CERT in a header
    der = test_pki.alice.cert.public_bytes(serialization.Encoding.DER)
    for data in (pem, flattened, der):
        assert parse_certificate(data).serial_number == test_pki.alice.cert.serial_number
    with pytest.raises(CertificateRefused) as caught:
        parse_certificate(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----")
    assert caught.value.code == "unreadable"


def test_uuid_uri_is_an_identity_key(test_pki: pki.TestPki) -> None:
    cert = (x509.CertificateBuilder().subject_name(test_pki.bob.cert.subject).issuer_name(test_pki.root.cert.subject)
            .public_key(test_pki.bob.key.public_key()).serial_number(7)
            .not_valid_before(pki.NOW - pki.DAY).not_valid_after(pki.NOW + pki.DAY)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(
                "urn:uuid:A1B2C3D4-0000-4000-8000-000000000001")]), critical=False)
            .sign(test_pki.root.key, hashes.SHA256()))
    assert "uuid:a1b2c3d4-0000-4000-8000-000000000001" in identity_keys(cert)


def _scope(peer: str, headers: dict[str, str], tls_pem: str | None = None) -> dict[str, object]:
    scope: dict[str, object] = {"type": "http", "client": (peer, 40000),
                                "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    if tls_pem:
        scope["extensions"] = {"tls": {"client_cert_chain": [tls_pem]}}
    return scope


def test_header_counts_only_from_a_trusted_proxy(test_pki: pki.TestPki) -> None:
    header = {"X-SSL-Client-Cert": quote(test_pki.alice.pem.decode())}
    trusted = parse_networks(["10.0.0.0/8", "::1"])
    from_proxy = presented_certificate(_scope("10.1.2.3", header), "X-SSL-Client-Cert", trusted)
    assert from_proxy.via == "proxy" and from_proxy.cert is not None
    assert parse_certificate(from_proxy.cert).serial_number == test_pki.alice.cert.serial_number
    stranger = presented_certificate(_scope("192.0.2.7", header), "X-SSL-Client-Cert", trusted)
    assert stranger.cert is None and stranger.untrusted_header
    mapped_v6 = presented_certificate(_scope("::ffff:10.0.0.1", header), "X-SSL-Client-Cert", trusted)
    assert mapped_v6.via == "proxy"
    # proxy mode off (no header name configured): the header means nothing, even from a "trusted" address
    assert presented_certificate(_scope("10.1.2.3", header), "", trusted).cert is None


def test_untrusted_header_does_not_hide_the_tls_certificate(test_pki: pki.TestPki) -> None:
    forged = {"X-SSL-Client-Cert": quote(test_pki.alice.pem.decode())}
    got = presented_certificate(_scope("192.0.2.7", forged, test_pki.bob.pem.decode()), "X-SSL-Client-Cert",
                                parse_networks(["10.0.0.0/8"]))
    assert got.via == "tls" and got.untrusted_header
    assert got.cert is not None and parse_certificate(got.cert).serial_number == test_pki.bob.cert.serial_number


def test_bad_trusted_proxy_entry_is_a_config_error() -> None:
    from voicemail.config import load_settings
    from voicemail.domain.errors import ConfigError

    with pytest.raises(ConfigError, match="web_trusted_proxies"):
        load_settings(environ={"VOICEMAIL_WEB_TRUSTED_PROXIES": "10.0.0.0/8,not-an-address"})
