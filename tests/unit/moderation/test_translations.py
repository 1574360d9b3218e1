"""Every UI string of the moderation templates has a German translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3] / "src" / "imageboard"
TEMPLATES = ROOT / "web" / "templates"
MODERATION_TEMPLATES = [
    TEMPLATES / "components" / "modmenu.html",
    TEMPLATES / "components" / "post.html",
    TEMPLATES / "layout.html",
    TEMPLATES / "components" / "board.html",
    TEMPLATES / "components" / "catalog.html",
    *sorted((TEMPLATES / "pages" / "staff").glob("*.html")),
    *(
        TEMPLATES / "pages" / f"{name}.html"
        for name in ("login", "account", "totp", "banned", "modlog", "report", "held", "rules")
    ),
]


def test_every_moderation_template_string_is_translated() -> None:
    with (ROOT / "locale" / "de" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="de")
    missing: list[str] = []
    for template in MODERATION_TEMPLATES:
        assert template.exists(), template
        for _line, message, _comments, _context in extract_from_file(
            "jinja2", str(template), options={"extensions": "jinja2.ext.i18n"}
        ):
            key = message if isinstance(message, str) else message[0]
            entry = catalog.get(key)
            if entry is None or not entry.string or (isinstance(entry.string, tuple) and not all(entry.string)):
                missing.append(f"{template.name}: {key}")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("language", ["en", "de"])
def test_templates_compile(language: str) -> None:
    from imageboard.web.templating import make_environment

    env = make_environment()
    for template in MODERATION_TEMPLATES:
        env.get_template(str(template.relative_to(TEMPLATES)))
