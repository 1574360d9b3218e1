"""Client addresses: forwarded headers count only from trusted proxies; IPv6 per /64."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imageboard.antispam import TrustedProxies, parse_ip, rate_key, resolve_client_ip

EDGE = ["10.0.0.0/8", "fd00::/8"]


def test_spoofed_forwarded_for_from_untrusted_peer_is_ignored() -> None:
    headers = {"x-forwarded-for": "1.2.3.4", "x-real-ip": "5.6.7.8"}
    assert resolve_client_ip("203.0.113.9", headers, EDGE) == "203.0.113.9"


def test_no_trusted_proxies_means_headers_are_always_ignored() -> None:
    assert resolve_client_ip("10.0.0.5", {"x-forwarded-for": "1.2.3.4"}, []) == "10.0.0.5"


def test_trusted_proxy_is_honoured() -> None:
    assert resolve_client_ip("10.0.0.5", {"x-forwarded-for": "198.51.100.20"}, EDGE) == "198.51.100.20"


def test_rightmost_untrusted_hop_wins_over_a_client_supplied_prefix() -> None:
    # The client wrote "1.1.1.1" itself; the edge appended the real peer; the mesh the edge.
    headers = {"x-forwarded-for": "1.1.1.1, 198.51.100.20, 10.0.0.7"}
    assert resolve_client_ip("10.0.0.5", headers, EDGE) == "198.51.100.20"


def test_all_hops_trusted_gives_the_leftmost() -> None:
    assert resolve_client_ip("10.0.0.5", {"x-forwarded-for": "10.1.1.1, 10.0.0.7"}, EDGE) == "10.1.1.1"


def test_garbage_stops_at_the_last_vouched_address() -> None:
    headers = {"x-forwarded-for": "1.1.1.1, not-an-ip, 10.0.0.7"}
    assert resolve_client_ip("10.0.0.5", headers, EDGE) == "10.0.0.7"


def test_x_real_ip_when_no_forwarded_for() -> None:
    assert resolve_client_ip("10.0.0.5", {"x-real-ip": "198.51.100.3"}, EDGE) == "198.51.100.3"
    assert resolve_client_ip("10.0.0.5", {"x-real-ip": "junk"}, EDGE) == "10.0.0.5"


def test_ports_brackets_and_mapped_addresses() -> None:
    headers = {"x-forwarded-for": "[2001:db8::1]:443, 198.51.100.4:5555"}
    assert resolve_client_ip("10.0.0.5", headers, EDGE) == "198.51.100.4"
    assert resolve_client_ip("::ffff:10.0.0.5", {"x-forwarded-for": "2001:db8::1"}, EDGE) == "2001:db8::1"
    assert parse_ip("::ffff:192.0.2.1") == parse_ip("192.0.2.1")
    assert parse_ip("fe80::1%eth0") == parse_ip("fe80::1")
    assert parse_ip("") is None and parse_ip("x" * 100) is None


def test_trusted_ipv6_proxy() -> None:
    assert resolve_client_ip("fd00::2", {"x-forwarded-for": "2001:db8::7"}, EDGE) == "2001:db8::7"


def test_bad_trusted_entry_is_reported() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        TrustedProxies(["10.0.0.0/8", "edge.example"])


def test_ipv6_is_keyed_per_64_and_ipv4_per_address() -> None:
    assert rate_key("2001:db8:1:2:aaaa::1") == rate_key("2001:db8:1:2:ffff:1:2:3") == "2001:db8:1:2::/64"
    assert rate_key("2001:db8:1:3::1") != rate_key("2001:db8:1:2::1")
    assert rate_key("192.0.2.1") == "192.0.2.1" != rate_key("192.0.2.2")
    assert rate_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert rate_key("testclient") == "testclient"


@given(st.ip_addresses(v=4).map(str), st.lists(st.ip_addresses().map(str), max_size=5))
def test_untrusted_peer_always_wins(peer: str, forwarded: list[str]) -> None:
    headers = {"x-forwarded-for": ", ".join(forwarded), "x-real-ip": forwarded[0] if forwarded else ""}
    resolved = resolve_client_ip(peer, headers, ["10.0.0.0/8"] if not peer.startswith("10.") else [])
    assert resolved == str(parse_ip(peer))
