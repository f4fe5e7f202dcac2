"""Where a request's client certificate comes from: the TLS connection, or a trusted reverse proxy.

- TLS terminated by uvicorn (voicemail.web.tls_server): the ASGI TLS extension,
  ``scope["extensions"]["tls"]["client_cert_chain"][0]`` (PEM).
- TLS terminated by a reverse proxy: the header ``web_client_cert_header`` carrying the URL-encoded PEM
  (nginx ``$ssl_client_escaped_cert``; Apache ``%{SSL_CLIENT_CERT}s``). It counts **only** when the
  immediate peer (the TCP connection's address, never X-Forwarded-For) is in ``web_trusted_proxies``;
  from anybody else it is ignored and reported so that the caller audits it.

A trusted proxy's header wins over the TLS connection's own certificate (the proxy may authenticate
itself to us with a certificate of its own).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PEER_EXTENSION = "voicemail.peer"  # set by tls_server: the TCP peer, before any proxy-header rewriting


def parse_networks(items: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses); raises ValueError naming the bad one."""
    out: list[Network] = []
    for item in items:
        try:
            out.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or CIDR: {item.strip()[:60]!r}") from None
    return tuple(out)


def peer_address(scope: Mapping[str, Any]) -> str | None:
    """The address of the TCP peer that sent this request."""
    peer = scope.get("extensions", {}).get(PEER_EXTENSION)
    if peer:
        return str(peer[0])
    client = scope.get("client")
    return str(client[0]) if client else None


def is_trusted(address: str | None, networks: Sequence[Network]) -> bool:
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


def tls_client_certificate(scope: Mapping[str, Any]) -> bytes | None:
    tls = scope.get("extensions", {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or ()
    for pem in chain:
        return pem.encode("ascii") if isinstance(pem, str) else bytes(pem)
    return None


def header_certificate(value: str) -> bytes | None:
    """URL-decoded header value; an empty value or nginx's "(null)"-style placeholder is no certificate."""
    raw = unquote_to_bytes(value.strip())
    return raw if b"CERTIFICATE" in raw else None


@dataclass(frozen=True)
class Presented:
    cert: bytes | None  # PEM or DER, not yet checked
    via: str  # "proxy", "tls" or "" (none)
    peer: str | None
    untrusted_header: bool  # a certificate header arrived from a peer not in web_trusted_proxies


def presented_certificate(scope: Mapping[str, Any], header_name: str,
                          trusted: Sequence[Network]) -> Presented:
    peer = peer_address(scope)
    untrusted = False
    if header_name:
        wanted = header_name.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == wanted]
        if values:
            if is_trusted(peer, trusted) and len(values) == 1:
                cert = header_certificate(values[0])
                if cert is not None:
                    return Presented(cert, "proxy", peer, False)
            elif not is_trusted(peer, trusted):
                untrusted = True
    direct = tls_client_certificate(scope)
    return Presented(direct, "tls" if direct else "", peer, untrusted)
