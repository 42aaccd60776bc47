"""The client's address, for limits kept per address (sign-in, new web sessions,
identifications). Behind a reverse proxy every peer is the proxy, so the address is
read from `X-Forwarded-For`, but only when the peer is a proxy we were told to trust:
anyone else could write that header themselves."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(spec: str | Iterable[str]) -> tuple[Network, ...]:
    """`TRUSTED_PROXIES` (addresses or networks, comma separated) as networks."""
    items = spec.split(",") if isinstance(spec, str) else spec
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]
) -> str:
    """The peer's address; through trusted proxies, the right-most address in
    `X-Forwarded-For` that is not one of them (the left-most ones are the client's
    own word)."""
    address = (peer or "").strip()
    if not forwarded_for or not _is_trusted(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not _is_address(hop):
            break  # junk from the client: the last proxy is all we know
        address = hop
        if not _is_trusted(hop, trusted):
            break
    return address[:64]


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
