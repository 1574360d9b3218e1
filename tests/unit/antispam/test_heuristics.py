"""Spam heuristics: each refusal names what the poster can change."""

from __future__ import annotations

import pytest

from imageboard.antispam import LooksAutomated, SpamPolicy
from imageboard.antispam.heuristics import check_automated, check_links, count_links

POLICY = SpamPolicy()


def test_links_are_counted() -> None:
    text = "see https://a.example/x and http://b.example, www.c.example/page, magnet:?xt=urn:btih:abc, ftp://d"
    assert count_links(text) == 5
    assert count_links("no links here, just a.b and e-mail@example.com") == 0


def test_too_many_links_says_how_many_are_allowed() -> None:
    with pytest.raises(LooksAutomated) as refused:
        check_links(6, SpamPolicy(max_links=5))
    assert refused.value.code == "too_many_links"
    assert "6 links" in refused.value.message and "at most 5" in refused.value.message
    assert "Remove" in refused.value.message
    check_links(5, SpamPolicy(max_links=5))
    check_links(500, SpamPolicy(max_links=-1))


def test_boards_without_links() -> None:
    with pytest.raises(LooksAutomated, match="does not allow links"):
        check_links(1, SpamPolicy(max_links=0))


def test_honeypot() -> None:
    with pytest.raises(LooksAutomated) as refused:
        check_automated("hello", POLICY, honeypot="http://spam.example")
    assert refused.value.code == "honeypot"
    assert "autofill" in refused.value.message


def test_repeated_lines() -> None:
    with pytest.raises(LooksAutomated) as refused:
        check_automated("BUY NOW\n" * 11, POLICY)
    assert refused.value.code == "repeated_lines"
    assert "11 times" in refused.value.message and "10 repeats" in refused.value.message
    check_automated("BUY NOW\n" * 10, POLICY)
    check_automated(">\n" * 50, POLICY)  # single characters are not lines worth counting


def test_stacked_marks() -> None:
    with pytest.raises(LooksAutomated) as refused:
        check_automated("he" + "\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308" + "llo", POLICY)
    assert refused.value.code == "stacked_marks"
    assert "Remove the stacked marks" in refused.value.message
    check_automated("Tiếng Việt có dấu, naïve, \u0065\u0302\u0301", POLICY)


def test_invisible_characters() -> None:
    with pytest.raises(LooksAutomated) as refused:
        check_automated("c\u200bh\u200be\u200ba\u200bp\u200b pills", POLICY)
    assert refused.value.code == "invisible_characters"
    assert "5 invisible characters" in refused.value.message
    # Joiners in emoji and Persian are fine.
    check_automated("👨\u200d👩\u200d👧\u200d👦 می\u200cخواهم", POLICY)


def test_long_words() -> None:
    with pytest.raises(LooksAutomated) as refused:
        check_automated("x" * 300, POLICY)
    assert refused.value.code == "long_word"
    assert "300-character word" in refused.value.message and "Break it up" in refused.value.message
    check_automated("https://example.com/" + "a" * 400, POLICY)
    check_automated("日本語の文章" * 100, POLICY)


def test_automated_checks_can_be_turned_off() -> None:
    check_automated("x" * 300 + "\nspam\n" * 40, SpamPolicy(automated_checks=False), honeypot="filled")
