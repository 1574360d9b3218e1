"""UI translations through gettext.

Catalogues ship as ``.po`` source files and are compiled in memory at start-up, so there is
no build step and no binary file in the tree. The language of a request lives in a context
variable, which the templates' ``_()`` reads.
"""

from __future__ import annotations

import gettext as _gettext
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = Path(__file__).resolve().parent.parent / "locale"
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch"}

_current: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


@cache
def available_languages() -> tuple[str, ...]:
    # Asked twice per request (negotiate, set_language); the catalogues ship with the code
    # and are read once per process anyway (see translations), so the directory is globbed once.
    found = {p.parent.parent.name for p in LOCALES.glob("*/LC_MESSAGES/messages.po")}
    return (DEFAULT_LANGUAGE, *sorted(found - {DEFAULT_LANGUAGE}))


@cache
def translations(language: str) -> _gettext.NullTranslations:
    source = LOCALES / language / "LC_MESSAGES" / "messages.po"
    if not source.exists():
        return _gettext.NullTranslations()
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def set_language(language: str) -> None:
    _current.set(language if language in available_languages() else DEFAULT_LANGUAGE)


def current_language() -> str:
    return _current.get()


def gettext(message: str) -> str:
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def negotiate(accept_language: str, forced: str = "") -> str:
    """Pick the UI language: a forced setting, else the best Accept-Language match."""
    languages = available_languages()
    if forced in languages:
        return forced
    ranked: list[tuple[float, str]] = []
    for part in accept_language.split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        ranked.append((quality, tag.strip().lower().split("-")[0]))
    for _quality, tag in sorted(ranked, key=lambda item: -item[0]):
        if tag in languages:
            return tag
    return DEFAULT_LANGUAGE
