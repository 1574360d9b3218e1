"""The Jinja2 environment: autoescaping, gettext, and the few filters pages need."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
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


# The macros ``kept()`` may keep, by name: each shows nothing but its arguments, the site's own
# text in the request's language and the environment's fixed globals — never the page's
# context (they are imported without it) nor a per-request global such as
# ``current_staff()``. A macro added here must keep to that, and its arguments must be
# immutable and hashable (a BoardView, strings, numbers, tuples).
KEPT_MACROS = {
    "board_banner": "components/board.html",
    "board_nav": "components/board.html",
    "rules_link": "components/board.html",
    "post_form": "components/forms.html",
    "delete_form": "components/forms.html",
    "site_header": "components/site.html",
    "site_footer": "components/site.html",
    "script_strings": "components/script_strings.html",
}


class KeptMacros:
    """``kept(name, *args)`` in a template: the macro rendered once per language and arguments
    and kept, least recently used dropped first. A thread page's board banner, forms,
    navigation and the site's header and footer were an eighth of its instructions, the
    same on every view of the page; a key holds everything such a macro shows (the board's
    whole view among it: a new post on the board renders them once more)."""

    def __init__(self, env: Environment, *, max_entries: int = 2048) -> None:
        self.env = env
        self.max_entries = max_entries
        self._rendered: OrderedDict[tuple[Any, ...], Markup] = OrderedDict()

    def __call__(self, name: str, *args: Hashable) -> Markup:
        key = (current_language(), name, *args)
        found = self._rendered.get(key)
        if found is not None:
            self._rendered.move_to_end(key)
            return found
        macro = getattr(self.env.get_template(KEPT_MACROS[name]).module, name)
        # A macro's output is markup already escaped by the template's autoescaping.
        found = self._rendered[key] = Markup(macro(*args))  # noqa: S704
        if len(self._rendered) > self.max_entries:
            self._rendered.popitem(last=False)
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
    env.globals["kept"] = KeptMacros(env)
    env.globals.update(globals_ or {})
    return env
