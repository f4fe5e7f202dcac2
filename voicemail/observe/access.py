"""Who may scrape /metrics: a client address in metrics_allow_from (when the list is not empty) and,
when metrics_token is set, ``Authorization: Bearer <token>`` (compared in constant time).

The address is the TCP peer, or the address a trusted proxy forwarded (web_forwarded_allow_ips). A request
that came through a proxy (X-Forwarded-For, Forwarded or X-Real-IP) needs the token whatever its address.
Neither set = nobody may scrape. A refused scrape gets 404, like every refusal of the web app, and learns nothing.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


@dataclass(frozen=True)
class ScrapePolicy:
    token: str = ""
    allow_from: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, token: str, allow_from: tuple[str, ...]) -> ScrapePolicy:
        return cls(token, tuple(ipaddress.ip_network(n, strict=False) for n in allow_from))

    @property
    def open_to_anyone(self) -> bool:
        return not self.token and not self.allow_from

    def allows(self, client_host: str | None, authorization: str | None, *, proxied: bool = False) -> bool:
        """``proxied``: the request carries a proxy's forwarding header. Behind a reverse proxy on the same
        host every client looks like 127.0.0.1, so then only the token can let a scraper in."""
        if self.open_to_anyone:  # neither set: /metrics is off (an open one must be asked for: 0.0.0.0/0, ::/0)
            return False
        if proxied and not self.token:
            return False
        if self.allow_from:
            try:
                address = ipaddress.ip_address((client_host or "").split("%", 1)[0])
            except ValueError:
                return False
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            if not any(address in net for net in self.allow_from):
                return False
        if self.token:
            scheme, _, given = (authorization or "").partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())
        return True
