"""Addresses and ranges: the sortable keys bans are matched on, and what janitors see."""

from __future__ import annotations

import ipaddress

import pytest

from imageboard.core.errors import InvalidInput
from imageboard.moderation import ips


def test_keys_sort_like_the_addresses_they_spell() -> None:
    addresses = ["0.0.0.1", "9.255.255.255", "10.0.0.0", "203.0.113.7", "255.255.255.255", "::1", "2001:db8::1"]
    numbers = sorted(
        addresses,
        key=lambda a: int(ipaddress.IPv6Address(f"::ffff:{a}")) if "." in a else int(ipaddress.IPv6Address(a)),
    )
    assert sorted(addresses, key=ips.key) == numbers
    assert all(len(ips.key(a)) == 32 for a in addresses)


def test_ipv4_mapped_ipv6_is_the_same_address() -> None:
    assert ips.key("::ffff:203.0.113.7") == ips.key("203.0.113.7")


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("203.0.113.7", ["203.0.113.7"], ["203.0.113.8", "203.0.113.6"]),
        ("203.0.113.0/24", ["203.0.113.0", "203.0.113.255"], ["203.0.112.255", "203.0.114.0"]),
        (
            "2001:db8:1:2::/64",
            ["2001:db8:1:2::", "2001:db8:1:2:ffff:ffff:ffff:ffff"],
            ["2001:db8:1:3::", "2001:db8:1:1::1"],
        ),
        ("2001:db8::1", ["2001:db8::1"], ["2001:db8::2"]),
    ],
)
def test_ranges(text: str, inside: list[str], outside: list[str]) -> None:
    span = ips.parse_range(text)
    for address in inside:
        assert span.start <= ips.key(address) <= span.end, address
    for address in outside:
        assert not span.start <= ips.key(address) <= span.end, address


def test_ipv4_range_does_not_cover_ipv6() -> None:
    span = ips.parse_range("0.0.0.0/8")
    assert not span.start <= ips.key("::1") <= span.end


def test_range_around_an_address() -> None:
    span = ips.range_around("2001:db8:aa:bb:1:2:3:4", 64)
    assert span.network == "2001:db8:aa:bb::/64"
    assert ips.range_around("203.0.113.7", None).network == "203.0.113.7"
    assert ips.range_around("203.0.113.7", 24).network == "203.0.113.0/24"


@pytest.mark.parametrize("text", ["10.0.0.0/7", "2001::/15", "not an address", "300.1.1.1", ""])
def test_bad_or_too_wide_ranges_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        ips.parse_range(text)


def test_masking() -> None:
    assert ips.mask("203.0.113.7") == "203.0.x.x"
    assert ips.mask("2001:db8:aa:bb::1") == "2001:db8:x:x:x:x:x:x"
    assert ips.mask("2001:0db8::1") == "2001:db8:x:x:x:x:x:x"
    assert ips.mask("::ffff:198.51.100.9") == "198.51.x.x"
    assert ips.mask("garbage") == "x"
