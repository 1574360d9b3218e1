"""Word filters: what they do, and that no pattern can stall posting."""

from __future__ import annotations

import time

import pytest

from imageboard.core.errors import InvalidInput
from imageboard.moderation import filters
from imageboard.moderation.filters import FilterRule, FilterTimeout, apply_filters, apply_filters_in_time

PATHOLOGICAL = "(a+)+$"
EVIL_INPUT = "a" * 5000 + "!"


def rule(
    pattern: str, action: str = "replace", *, regex: bool = False, replacement: str = "", id_: int = 1
) -> FilterRule:
    return FilterRule(
        id=id_,
        board=None,
        pattern=pattern,
        is_regex=regex,
        action=action,  # type: ignore[arg-type]
        replacement=replacement,
        ban_hours=0,
        reason="",
    )


def test_the_linear_engine_is_installed() -> None:
    assert filters.DEFAULT_ENGINE == "re2", "install google-re2: filters then run in linear time"


def test_plain_filters_match_any_case_and_replace_literally() -> None:
    out = apply_filters([rule("Spam.com", replacement=r"[\1 removed]")], {"com": "visit SPAM.COM and spam.com now"})
    assert out.fields["com"] == r"visit [\1 removed] and [\1 removed] now"
    assert out.refused_by is None and out.banned_by is None
    # A dot in a plain filter is a dot, not "any character".
    assert apply_filters([rule("a.c")], {"com": "abc"}).fields["com"] == "abc"


def test_regex_filters_and_the_order_of_actions() -> None:
    rules = [rule(r"\bcat(s)?\b", regex=True, replacement="dog", id_=1), rule("dog", "refuse", id_=2)]
    out = apply_filters(rules, {"com": "cats and a cat", "sub": ""})
    assert out.refused_by is not None and out.refused_by.id == 2
    assert out.fields["com"] == "dog and a dog"
    banned = apply_filters([rule("buy now", "ban")], {"name": "x", "com": "BUY NOW"})
    assert banned.banned_by is not None


@pytest.mark.parametrize("engine", ["re2", "python"])
def test_patterns_are_checked_when_saved(engine: filters.Engine) -> None:
    with pytest.raises(InvalidInput):
        filters.compile_pattern("(unclosed", is_regex=True, engine=engine)
    with pytest.raises(InvalidInput):
        filters.compile_pattern(r"(a)\1", is_regex=True, engine=engine)  # backreference
    with pytest.raises(InvalidInput):
        filters.compile_pattern(r"(?=a)b", is_regex=True, engine=engine)  # lookaround
    with pytest.raises(InvalidInput):
        filters.compile_pattern("x" * 501, is_regex=False, engine=engine)
    assert filters.compile_pattern(r"\bfoo\d+", is_regex=True, engine=engine).search("a foo12")


def test_re2_runs_the_pathological_pattern_in_linear_time() -> None:
    matcher = filters.compile_pattern(PATHOLOGICAL, is_regex=True, engine="re2")
    started = time.perf_counter()
    assert not matcher.search(EVIL_INPUT * 4)
    assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize("pattern", [PATHOLOGICAL, "(a*)*b", "(a|aa)+$", "(x+x+)+y", r"(\w+\s?)*$"])
def test_without_re2_nested_quantifiers_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidInput):
        filters.compile_pattern(pattern, is_regex=True, engine="python")


@pytest.mark.parametrize("pattern", [r"\bviagra\b", "a+b+c", "(ab)+", "(?i)free (money|cash)", "x{2,5}y"])
def test_without_re2_simple_patterns_are_allowed(pattern: str) -> None:
    filters.compile_pattern(pattern, is_regex=True, engine="python")


async def test_without_re2_matching_has_a_time_budget() -> None:
    """The save check still lets polynomial patterns through (``a*a*a*a*c`` takes about 30 s
    on 300 a's with Python's re). The backtracking engine therefore runs in a worker process
    that is killed when it overruns, and the post is refused instead of stalling the site."""
    slow = rule("a*a*a*a*c", "refuse", regex=True)
    filters.compile_pattern(slow.pattern, is_regex=True, engine="python")  # passes the save check
    warm = await apply_filters_in_time([rule("x", replacement="y")], {"com": "x"}, engine="python")
    assert warm.fields["com"] == "y"
    started = time.perf_counter()
    with pytest.raises(FilterTimeout):
        await apply_filters_in_time([slow], {"com": "a" * 300}, budget=0.3, engine="python")
    assert time.perf_counter() - started < 1.0
    # The killed worker is replaced; filtering goes on.
    again = await apply_filters_in_time([slow], {"com": "aaac"}, engine="python")
    assert again.refused_by is not None


async def test_budgeted_run_passes_results_through() -> None:
    out = await apply_filters_in_time([rule("bad", replacement="good")], {"com": "bad day"})
    assert out.fields["com"] == "good day"
    assert (await apply_filters_in_time([], {"com": "x"})).fields == {"com": "x"}
