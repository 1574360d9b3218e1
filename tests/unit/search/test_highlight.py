"""Highlights: escaped text with balanced <mark> tags and nothing else."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from imageboard.search.highlight import START, STOP, marked_html, plain


def test_markers_become_mark_tags_after_escaping() -> None:
    text = f'<b>{START}bold{STOP}</b> & {START}more{STOP} "q"'
    assert marked_html(text) == "&lt;b&gt;<mark>bold</mark>&lt;/b&gt; &amp; <mark>more</mark> &quot;q&quot;"


def test_unbalanced_markers_are_balanced() -> None:
    assert marked_html(f"a {STOP}b{START} c") == "a b<mark> c</mark>"
    assert marked_html(f"{START}{START}a{STOP}{STOP}") == "<mark>a</mark>"
    assert marked_html(f"{START}{STOP}") == ""


def test_whitespace_runs_collapse() -> None:
    assert marked_html(" a \n\n b\t") == "a b"


def test_plain_drops_markers() -> None:
    assert plain(f"{START}a{STOP} b") == "a b"


@given(st.text(alphabet=st.sampled_from(["<", ">", "&", '"', "'", "a", " ", "\n", START, STOP, "/", "=", "m"])))
def test_output_has_only_balanced_mark_tags(text: str) -> None:
    html = marked_html(text)
    tags = re.findall(r"<[^>]*>", html)
    assert all(tag in ("<mark>", "</mark>") for tag in tags)
    depth = 0
    for tag in tags:
        depth += 1 if tag == "<mark>" else -1
        assert depth in (0, 1)
    assert depth == 0
    assert START not in html and STOP not in html
    assert "<" not in re.sub(r"</?mark>", "", html) and ">" not in re.sub(r"</?mark>", "", html)
