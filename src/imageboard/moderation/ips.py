"""Addresses and ranges: parsing, the sortable keys bans are matched on, and masking.

Every address is placed in one 128-bit space (IPv4 as IPv4-mapped IPv6, ``::ffff:a.b.c.d``)
and written as 32 lowercase hex digits: fixed-width hex sorts like the number it spells, so a
range check is ``start <= key <= end`` on plain strings, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from imageboard.core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_MAPPED = int(ipaddress.IPv6Address("::ffff:0:0"))
# The widest ranges a ban may cover: a /8 of IPv4, a /16 of IPv6 — wider is surely a typo.
MIN_PREFIX = {4: 8, 6: 16}


@dataclass(frozen=True, slots=True)
class Range:
    network: str  # normalised CIDR, e.g. "203.0.113.0/24", "2001:db8::/64"
    start: str
    end: str


def parse_address(text: str) -> IPAddress:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        raise InvalidInput(f"'{text[:64]}' is not an IP address.", field="ip") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def key(address: str | IPAddress) -> str:
    """The 32-hex-digit sort key of an address."""
    ip = parse_address(address) if isinstance(address, str) else address
    value = _MAPPED | int(ip) if ip.version == 4 else int(ip)
    return f"{value:032x}"


def parse_range(text: str) -> Range:
    """A CIDR range or a single address; refuses ranges wider than MIN_PREFIX allows."""
    raw = text.strip()
    try:
        network = ipaddress.ip_network(raw, strict=False)
    except ValueError:
        raise InvalidInput(
            f"'{raw[:64]}' is not an IP address or range: write e.g. 203.0.113.7, 203.0.113.0/24 or 2001:db8::/64.",
            field="ip",
        ) from None
    if network.prefixlen < MIN_PREFIX[network.version]:
        raise InvalidInput(
            f"A ban may cover at most a /{MIN_PREFIX[network.version]} of IPv{network.version}.", field="ip"
        )
    return Range(
        network=str(network) if network.num_addresses > 1 else str(network.network_address),
        start=key(network.network_address),
        end=key(network.broadcast_address),
    )


def range_around(ip: str, prefix: int | None) -> Range:
    """The range of ``prefix`` bits around an address (None: just the address)."""
    address = parse_address(ip)
    if prefix is None:
        return parse_range(str(address))
    if not 0 <= prefix <= address.max_prefixlen:
        raise InvalidInput(f"IPv{address.version} ranges are /0 to /{address.max_prefixlen}.", field="range")
    return parse_range(f"{address}/{prefix}")


def mask(ip: str) -> str:
    """What janitors see: the /16 of an IPv4 address, the /32 of an IPv6 address, and the
    rest as ``x`` (``203.0.x.x``, ``2001:db8:x:x:x:x:x:x``)."""
    try:
        address = parse_address(ip)
    except InvalidInput:
        return "x"
    if address.version == 4:
        a, b, _c, _d = str(address).split(".")
        return f"{a}.{b}.x.x"
    groups = address.exploded.split(":")
    return ":".join([*(g.lstrip("0") or "0" for g in groups[:2]), *["x"] * 6])
