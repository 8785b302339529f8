"""Refusing requests to private, loopback and other internal addresses (SSRF guard).

A crawl follows URLs that strangers wrote. Without this guard a result page
could point the crawler at a cloud metadata service or an admin port on the
local network. The check runs where the socket is opened, so it covers every
redirect hop, and it checks both every address the name resolves to and the
address actually connected to (a DNS answer that changes between the two
cannot slip through).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressNotAllowed(Exception):
    """The host resolves to an address the crawler must not contact.

    Deliberately not an ``OSError``: urllib3 retries those, and this must
    never be retried.
    """

    def __init__(self, host: str, address: str, why: str):
        self.host = host
        self.address = address
        super().__init__(f"{host} resolves to {address}, a {why} address")


# IPv6 ranges Python's ``is_global`` calls public but a crawler must not contact: 6to4 (2002::/16)
# tunnels to whatever IPv4 address it embeds (a relay or a local gateway may honour it), and
# site-local (fec0::/10, deprecated by RFC 3879, still routed inside some networks).
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")


def _kind_of_internal_address(address: IPAddress) -> str | None:
    """Name the kind of internal address this is, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv6Address):
        if address in SIX_TO_FOUR:
            # Always refused; the IPv4 address inside is named when it is internal itself.
            inner = _kind_of_internal_address(address.sixtofour)
            return f"6to4 ({inner} {address.sixtofour} inside)" if inner else "6to4"
        if address in SITE_LOCAL:
            return "site-local"
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-global", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may be contacted: public ones, plus any listed network."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def build(cls, *, allow_private: bool, allowed_networks: Iterable[str] = ()) -> AddressPolicy:
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks))

    def refusal(self, address_text: str) -> str | None:
        """Why this address is refused, or None when it may be contacted."""
        address = ipaddress.ip_address(address_text.split("%", 1)[0])  # drop an IPv6 zone id
        if self.allow_private or any(address in network for network in self.allowed_networks):
            return None
        return _kind_of_internal_address(address)

    def check_addresses(self, host: str, addresses: Iterable[str]) -> None:
        """Raise unless every address may be contacted (one bad answer is enough to refuse)."""
        for address in addresses:
            why = self.refusal(address)
            if why is not None:
                raise AddressNotAllowed(host, address, why)

    def check_host(self, host: str, port: int | None = None) -> list[str]:
        """Resolve the host and check every address it resolves to; return them."""
        if self.allow_private:
            return []
        infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
        addresses = sorted({info[4][0] for info in infos})
        self.check_addresses(host, addresses)
        return addresses


class _GuardedConnectionMixin:
    address_policy: AddressPolicy

    def _new_conn(self):  # noqa: ANN202 - urllib3's signature
        host = self._dns_host  # type: ignore[attr-defined]
        try:
            self.address_policy.check_host(host, self.port)  # type: ignore[attr-defined]
        except socket.gaierror:
            pass  # let urllib3 report the resolution failure in its own words
        sock = super()._new_conn()  # type: ignore[misc]
        try:
            peer = sock.getpeername()[0]
            self.address_policy.check_addresses(host, [peer])
        except BaseException:
            sock.close()
            raise
        return sock


def guarded_pool_classes(policy: AddressPolicy) -> dict[str, type]:
    """Connection pool classes for urllib3's PoolManager that enforce the policy."""
    http_conn = type("GuardedHTTPConnection", (_GuardedConnectionMixin, HTTPConnection), {"address_policy": policy})
    https_conn = type("GuardedHTTPSConnection", (_GuardedConnectionMixin, HTTPSConnection), {"address_policy": policy})
    return {
        "http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }
