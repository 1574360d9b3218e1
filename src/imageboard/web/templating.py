"""The Jinja2 environment: autoescaping, gettext, and the few filters pages need."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_eval_context, select_autoescape
from jinja2.nodes import EvalContext
from markupsafe import Markup

from imageboard.core.i18n import current_language, gettext, ngettext

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Translated template strings kept per language (the templates' messages are a fixed set; a
# template passing arbitrary text to _() cannot grow this past the bound).
_MAX_TRANSLATIONS = 4096


@lru_cache(maxsize=16384)
def fourchan_time(value: datetime) -> str:
    """4chan's post date: ``11/28/26(Sat)02:55:46``, in UTC."""
    return value.strftime("%m/%d/%y(%a)%H:%M:%S")


@lru_cache(maxsize=16384)
def iso_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- gettext for templates ------------------------------------------------------------------
#
# Jinja's "newstyle" gettext calls `_()` through three layers of Context.call (the `_` alias,
# the newstyle wrapper, the function), which a page of 300 posts pays thousands of times. These
# do the same in one call: translate in the request's language, mark the translation safe when
# autoescaping (so only the variables are escaped), and always %-format it — exactly what
# jinja2.ext's newstyle wrappers do — with the escaped translation kept per language.

_translated: dict[tuple[str, str], Markup] = {}
_formatted: dict[tuple[str, str], Markup] = {}


def _remember(cache: dict[tuple[str, str], Markup], key: tuple[str, str], value: Markup) -> Markup:
    if len(cache) >= _MAX_TRANSLATIONS:
        cache.clear()
    cache[key] = value
    return value


@pass_eval_context
def _template_gettext(eval_ctx: EvalContext, message: str, /, **variables: Any) -> str:
    if not eval_ctx.autoescape:
        return gettext(message) % variables
    key = (current_language(), message)
    if not variables:
        found = _formatted.get(key)
        if found is None:
            found = _remember(_formatted, key, _safe(key, message) % {})
        return found
    return _safe(key, message) % variables


def _safe(key: tuple[str, str], message: str) -> Markup:
    """The translation, marked safe: translations are the site's own text, like templates."""
    found = _translated.get(key)
    if found is None:
        found = _remember(_translated, key, Markup(gettext(message)))  # noqa: S704
    return found


@pass_eval_context
def _template_ngettext(eval_ctx: EvalContext, singular: str, plural: str, num: int, /, **variables: Any) -> str:
    variables.setdefault("num", num)
    translated = ngettext(singular, plural, num)
    if eval_ctx.autoescape:
        return Markup(translated) % variables  # noqa: S704  (as jinja2.ext does)
    return translated % variables


class PerLanguage:
    """A template that shows nothing but the site's own text, rendered once per language and
    kept (``script_strings()``: the scripts' 38 strings, on every page, were a tenth of a
    thread page's template time). The languages are the site's few, so nothing is evicted."""

    def __init__(self, env: Environment, template: str) -> None:
        self.env = env
        self.template = template
        self._rendered: dict[str, Markup] = {}

    def __call__(self) -> Markup:
        language = current_language()
        found = self._rendered.get(language)
        if found is None:
            # Rendered with autoescaping like any template: its output is safe markup.
            found = self._rendered[language] = Markup(self.env.get_template(self.template).render())  # noqa: S704
        return found


def make_environment(*, globals_: dict[str, Any] | None = None) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "xml"], default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    # newstyle=True sets how {% trans %} blocks compile; the callables are then replaced by
    # the single-call versions above (same behaviour, see the comment there).
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(_=_template_gettext, gettext=_template_gettext, ngettext=_template_ngettext)
    env.filters["fourchan_time"] = fourchan_time
    env.filters["iso_time"] = iso_time
    env.globals["script_strings"] = PerLanguage(env, "components/script_strings.html")
    env.globals.update(globals_ or {})
    return env
