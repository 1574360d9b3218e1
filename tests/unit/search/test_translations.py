"""Every UI string of the search page (and the header link to it) has a German translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3] / "src" / "imageboard"
TEMPLATES = ROOT / "web" / "templates"
SEARCH_TEMPLATES = [TEMPLATES / "pages" / "search.html"]  # layout.html: tests/unit/moderation


def test_every_search_template_string_is_translated() -> None:
    with (ROOT / "locale" / "de" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="de")
    missing: list[str] = []
    for template in SEARCH_TEMPLATES:
        for _line, message, _comments, _context in extract_from_file(
            "jinja2", str(template), options={"extensions": "jinja2.ext.i18n"}
        ):
            key = message if isinstance(message, str) else message[0]
            entry = catalog.get(key)
            if entry is None or not entry.string:
                missing.append(f"{template.name}: {key}")
    assert not missing, "\n".join(missing)
    assert catalog.get("Search") is not None and catalog.get("Search").string  # the header link


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_search_page_compiles(language: str) -> None:
    from imageboard.web.templating import make_environment

    make_environment().get_template("pages/search.html")
