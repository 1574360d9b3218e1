"""Parsing what visitors type into the search box: terms, limits, and FTS5 strings that can
only ever be quoted text, whatever the input."""

from __future__ import annotations

import re
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageboard.core.errors import InvalidInput
from imageboard.search.query import MAX_QUERY_LENGTH, MAX_TERMS, Term, fts5_match, parse


def test_words_phrases_prefixes_and_exclusions() -> None:
    query = parse('  rust "async await" tok* -java -"null pointer" ')
    assert query.terms == (
        Term("rust"),
        Term("async await"),
        Term("tok", prefix=True),
        Term("java", exclude=True),
        Term("null pointer", exclude=True),
    )
    assert fts5_match(query) == '("rust" AND "async await" AND "tok"*) NOT "java" NOT "null pointer"'


def test_operators_and_syntax_are_plain_text() -> None:
    query = parse("AND OR NOT NEAR(a b) col:x ^y {a b}:")
    assert [t.text for t in query.terms] == ["AND", "OR", "NOT", "NEAR(a", "b)", "col:x", "^y", "{a", "b}:"]
    assert fts5_match(query) == (
        '"AND" AND "OR" AND "NOT" AND "NEAR(a" AND "b)" AND "col:x" AND "^y" AND "{a" AND "b}:"'
    )


def test_quotes_inside_words_are_doubled() -> None:
    assert fts5_match(parse("it's")) == '"it\'s"'
    assert fts5_match(parse('a"b')) == '"a" AND "b"'
    assert fts5_match(parse('say"')) == '"say"'


def test_a_prefix_needs_three_letters_or_digits() -> None:
    assert parse("ab*").terms == (Term("ab"),)
    assert parse("abc*").terms == (Term("abc", prefix=True),)
    assert parse("c++*").terms == (Term("c++"),)
    assert parse("***").terms == ()
    assert parse("'rust':*").terms == (Term("'rust':"),)


def test_punctuation_only_terms_are_dropped() -> None:
    query = parse("\" * - -- ( ) \\ '")
    assert query.terms == () and not query.searchable
    assert not parse("-rust").searchable  # nothing to look for, only something to leave out


def test_duplicates_count_once() -> None:
    assert parse("a a a A").terms == (Term("a"), Term("A"))


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "empty_query"),
        (" \n\t ", "empty_query"),
        ("\x00\x01", "empty_query"),
        ("x" * (MAX_QUERY_LENGTH + 1), "query_too_long"),
        (" ".join(f"w{i}" for i in range(MAX_TERMS + 1)), "query_too_complex"),
    ],
)
def test_unusable_queries(raw: str, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse(raw)
    assert refused.value.code == code and refused.value.field == "q"


def test_control_characters_become_spaces() -> None:
    assert parse("rust\x00async").terms == (Term("rust"), Term("async"))


_FTS = sqlite3.connect(":memory:")
_FTS.execute("CREATE VIRTUAL TABLE t USING fts5(a, b, tokenize = 'unicode61 remove_diacritics 2')")
_FTS.execute("INSERT INTO t VALUES ('rust and async', 'NEAR AND OR NOT col term')")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=MAX_QUERY_LENGTH))
def test_any_input_makes_a_valid_fts5_query_of_quoted_strings(raw: str) -> None:
    try:
        query = parse(raw)
    except InvalidInput:
        return
    assert len(query.terms) <= MAX_TERMS
    if not query.searchable:
        return
    match = fts5_match(query)
    # Outside the quoted strings there is nothing but the operators this module writes.
    outside = re.sub(r'"(?:[^"]|"")*"', "", match)
    assert re.fullmatch(r"[()* ANDOT]*", outside), match
    _FTS.execute("SELECT rowid FROM t WHERE t MATCH ?", (match,)).fetchall()
