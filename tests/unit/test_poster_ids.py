"""Poster IDs: stable per poster and thread, unrelated across threads, boards and posters."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageboard.boards.poster_ids import poster_id

SECRET = b"test-secret"


def test_known_vectors() -> None:
    # base64(HMAC-SHA256(secret, "board:thread:key"))[:8] with "/" written as ".".
    assert poster_id("203.0.113.7", board="g", thread_no=12345, secret=SECRET) == "pwa4.1zW"
    assert poster_id("2001:db8:1:2::1", board="g", thread_no=12345, secret=SECRET) == ".Yh9EPPn"


def test_stable_for_the_same_poster_in_the_same_thread() -> None:
    first = poster_id("198.51.100.1", board="b", thread_no=1, secret=SECRET)
    assert poster_id("198.51.100.1", board="b", thread_no=1, secret=SECRET) == first


def test_different_across_threads_boards_posters_and_secrets() -> None:
    base = poster_id("198.51.100.1", board="b", thread_no=1, secret=SECRET)
    assert poster_id("198.51.100.1", board="b", thread_no=2, secret=SECRET) != base
    assert poster_id("198.51.100.1", board="g", thread_no=1, secret=SECRET) != base
    assert poster_id("198.51.100.2", board="b", thread_no=1, secret=SECRET) != base
    assert poster_id("198.51.100.1", board="b", thread_no=1, secret=b"other") != base


def test_ipv6_posters_are_identified_by_their_64() -> None:
    one = poster_id("2001:db8:1:2::1", board="b", thread_no=1, secret=SECRET)
    assert poster_id("2001:db8:1:2:aaaa:bbbb:cccc:dddd", board="b", thread_no=1, secret=SECRET) == one
    assert poster_id("2001:DB8:1:2:0::1", board="b", thread_no=1, secret=SECRET) == one
    assert poster_id("2001:db8:1:3::1", board="b", thread_no=1, secret=SECRET) != one


def test_ipv4_mapped_addresses_count_as_ipv4() -> None:
    v4 = poster_id("192.0.2.5", board="b", thread_no=1, secret=SECRET)
    assert poster_id("::ffff:192.0.2.5", board="b", thread_no=1, secret=SECRET) == v4


def test_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        poster_id("192.0.2.5", board="b", thread_no=1, secret=b"")


def test_spread_over_many_posters() -> None:
    ids = {poster_id(f"10.0.{i // 256}.{i % 256}", board="b", thread_no=1, secret=SECRET) for i in range(2000)}
    assert len(ids) == 2000


@settings(max_examples=200, deadline=None)
@given(
    ip=st.one_of(st.ip_addresses().map(str), st.text(max_size=50)),
    board=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10),
    thread_no=st.integers(min_value=1, max_value=2**40),
)
def test_any_input_gives_an_html_and_url_safe_id(ip: str, board: str, thread_no: int) -> None:
    assert re.fullmatch(r"[A-Za-z0-9+.]{8}", poster_id(ip, board=board, thread_no=thread_no, secret=SECRET))
