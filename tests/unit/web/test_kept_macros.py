"""web.templating.KeptMacros: a kept macro is rendered once per language and arguments, and
the kept renders are bounded."""

from __future__ import annotations

import pytest

from imageboard.core.i18n import set_language
from imageboard.web.templating import KeptMacros, make_environment


def test_each_language_and_each_set_of_arguments_is_rendered_once() -> None:
    env = make_environment()
    kept = KeptMacros(env)
    set_language("en")
    english = kept("script_strings")
    assert 'data-opt-auto-update="Update threads automatically"' in english
    assert kept("script_strings") is english  # kept, not rendered again
    set_language("de")
    german = kept("script_strings")
    assert 'data-opt-auto-update="Threads automatisch aktualisieren"' in german
    links = (("b", "Random"), ("g", "Tech & <Gadgets>"))
    on_index = kept("site_header", links, "/b/", False)
    under = kept("site_header", links, "/b/*", False)
    assert '<a href="/b/" title="Random" aria-label="/b/ - Random" aria-current="page">b</a>' in on_index
    assert 'aria-current="true">b</a>' in under and "Tech &amp; &lt;Gadgets&gt;" in under
    assert '<a href="/staff"' not in under and '<a href="/staff"' in kept("site_header", links, "/b/*", True)
    assert len(kept._rendered) == 5


def test_the_kept_renders_are_bounded_and_the_least_recent_goes_first() -> None:
    set_language("en")
    kept = KeptMacros(make_environment(), max_entries=3)
    for label in ("a", "b", "c"):
        kept("site_header", (), f"/{label}", False)
    kept("site_header", (), "/a", False)  # used again: "/b" is now the oldest
    kept("site_header", (), "/d", False)
    assert [key[3] for key in kept._rendered] == ["/c", "/a", "/d"]  # (language, name, links, path, …)


def test_only_the_listed_macros_can_be_kept() -> None:
    kept = KeptMacros(make_environment())
    with pytest.raises(KeyError):
        kept("post", None, "b")
