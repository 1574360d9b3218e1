"""The Jinja2 environment: autoescaping, gettext, and the few filters pages need."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from imageboard.core.i18n import gettext, ngettext

TEMPLATES = Path(__file__).resolve().parent / "templates"


def fourchan_time(value: datetime) -> str:
    """4chan's post date: ``11/28/26(Sat)02:55:46``, in UTC."""
    return value.strftime("%m/%d/%y(%a)%H:%M:%S")


def iso_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


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
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["fourchan_time"] = fourchan_time
    env.filters["iso_time"] = iso_time
    env.globals.update(globals_ or {})
    return env
