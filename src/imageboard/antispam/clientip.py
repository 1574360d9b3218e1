"""Who is the client? The peer address, unless the peer is a trusted proxy.

Only a configured trusted proxy (the NGINX edge, the mesh's sidecar) may tell us the client's
address, through ``X-Forwarded-For`` or ``X-Real-IP``. From anyone else those headers are
ignored — otherwise any client could pick the address its rate limits are counted under.

``X-Forwarded-For`` lists every hop, the client first; each proxy appends the address it
received the request from. Everything left of the last trusted proxy's entry may have been
written by the client, so the header is read from the right: skip trusted proxies, and the
first address that is not one is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs or single addresses (``10.0.0.0/8``, ``::1``); raises ValueError naming a bad one."""
    networks: list[IPNetwork] = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise ValueError(f"'{text}' is not an IP address or CIDR network") from exc
    return tuple(networks)


def parse_ip(text: str) -> IPAddress | None:
    """An address from a header value: tolerates ports ("1.2.3.4:80", "[::1]:80"), zone ids,
    and unwraps IPv4-mapped IPv6 ("::ffff:1.2.3.4"). None when it is not an address."""
    value = text.strip().strip('"')
    if not value or len(value) > 64:
        return None
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    value = value.partition("%")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """Membership test for the trusted proxy networks."""

    def __init__(self, networks: Iterable[str | IPNetwork]) -> None:
        self.networks: tuple[IPNetwork, ...] = tuple(
            entry if not isinstance(entry, str) else parse_networks([entry])[0]
            for entry in networks
            if not isinstance(entry, str) or entry.strip()
        )

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: IPAddress | None) -> bool:
        if address is None:
            return False
        return any(address.version == net.version and address in net for net in self.networks)


def resolve_client_ip(
    peer: str, headers: Mapping[str, str], trusted: Iterable[str | IPNetwork] | TrustedProxies
) -> str:
    """The client's address for a request from ``peer`` with these (lower-case) headers."""
    proxies = trusted if isinstance(trusted, TrustedProxies) else TrustedProxies(trusted)
    peer_ip = parse_ip(peer)
    if not proxies or peer_ip not in proxies:
        return str(peer_ip) if peer_ip is not None else peer
    forwarded = headers.get("x-forwarded-for", "")
    if forwarded:
        client = peer_ip
        for hop in reversed(forwarded.split(",")):
            address = parse_ip(hop)
            if address is None:
                # Garbage can only come from the client's side of the chain: stop at the
                # nearest address a trusted proxy vouched for.
                break
            client = address
            if address not in proxies:
                break
        return str(client)
    real = parse_ip(headers.get("x-real-ip", ""))
    if real is not None:
        return str(real)
    return str(peer_ip)


@lru_cache(maxsize=4096)
def rate_key(ip: str) -> str:
    """The key a client's limits are counted under: the IPv4 address, or the /64 network of
    an IPv6 address (one subscriber usually holds a whole /64)."""
    address = parse_ip(ip)
    if address is None:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((int(address) >> 64 << 64, 64))
        return str(network)
    return str(address)
