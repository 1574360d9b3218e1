"""A thread's poster count: distinct addresses, the posts without one counted as one poster."""

from __future__ import annotations

from imageboard.boards.repository.posts import _posters


def test_distinct_addresses_are_posters() -> None:
    assert _posters([(1, "10.0.0.1"), (2, "10.0.0.2"), (3, "10.0.0.1")]) == 2


def test_posts_without_an_address_count_as_one_poster_however_it_is_stored() -> None:
    assert _posters([(1, "10.0.0.1"), (2, None), (3, ""), (4, None)]) == 2
    assert _posters([(1, None), (2, None)]) == 1
    assert _posters([(1, ""), (2, "10.0.0.1")]) == 2


def test_no_posts_no_posters() -> None:
    assert _posters([]) == 0
