"""The client's address, right behind a reverse proxy: one helper for every part that needs it.

Behind the proxy (deploy/Caddyfile) every request reaches gunicorn from the
proxy, so ``REMOTE_ADDR`` is the proxy's address, and the client's is in the
``X-Forwarded-For`` header the proxy adds. Anyone can send that header, so it
counts only when the direct peer is one of ``TRUSTED_PROXIES``: then the
header is read from the right (the entry the nearest proxy appended) past
every trusted proxy, and the first address that is not a proxy is the
client. From any other peer the header is ignored and the peer is the client.

``ClientAddressMiddleware`` (first in ``MIDDLEWARE``) resolves it once per
request and puts it in ``REMOTE_ADDR`` (the peer stays in ``request.peer_address``),
so code that reads ``REMOTE_ADDR`` (Django REST framework's throttles, with
``NUM_PROXIES = 0``; the log-in lock-out through ``client_address``) sees the
client. It also drops the ``X-Forwarded-*`` headers of a peer that is not a
trusted proxy, so ``SECURE_PROXY_SSL_HEADER`` (X-Forwarded-Proto) is believed
only from the proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
                     "HTTP_FORWARDED")
_RESOLVED = "_client_address"


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.2", "172.30.0.0/16", "::1"]`` as networks; a ValueError names a bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is neither an IP address nor a network in CIDR form (e.g. 172.30.0.0/16)") from None
    return tuple(networks)


@lru_cache(maxsize=8)
def _trusted(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(entries)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return address.ipv4_mapped or address if isinstance(address, ipaddress.IPv6Address) else address


def resolve_client_address(peer: str, forwarded_for: str | None, trusted: Iterable[Network]) -> str:
    """The client's address from the direct peer and its X-Forwarded-For header (see the module's docstring)."""
    trusted = tuple(trusted)

    def is_trusted(address) -> bool:
        return address is not None and any(address in network for network in trusted)

    peer_address = _address(peer)
    if not forwarded_for or not is_trusted(peer_address):
        return str(peer_address) if peer_address is not None else (peer or "unknown")
    client = peer_address
    for entry in reversed(forwarded_for.split(",")):
        address = _address(entry)
        if address is None:
            break  # garbage: the hop that wrote it is the last one we can vouch for
        client = address
        if not is_trusted(address):
            break
    return str(client)


def client_address(request: HttpRequest) -> str:
    """The client's address for this request: what throttles, lock-outs and logs must use."""
    resolved = getattr(request, _RESOLVED, None)
    if resolved is None:
        trusted = _trusted(tuple(settings.TRUSTED_PROXIES))
        resolved = resolve_client_address(
            request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR"), trusted
        )
        setattr(request, _RESOLVED, resolved)
    return resolved


def is_from_trusted_proxy(request: HttpRequest) -> bool:
    peer = _address(getattr(request, "peer_address", None) or request.META.get("REMOTE_ADDR", ""))
    return peer is not None and any(peer in network for network in _trusted(tuple(settings.TRUSTED_PROXIES)))


class ClientAddressMiddleware:
    """First in MIDDLEWARE: ``REMOTE_ADDR`` becomes the client's address; a stranger's X-Forwarded-* headers are dropped."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.peer_address = request.META.get("REMOTE_ADDR", "")
        if not is_from_trusted_proxy(request):
            for header in FORWARDED_HEADERS:
                request.META.pop(header, None)
        request.META["REMOTE_ADDR"] = client_address(request)
        return self.get_response(request)
