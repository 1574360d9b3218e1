"""Server-rendered HTML pages: routes, Jinja2 templates and static assets."""

from imageboard.web.pages import PageRenderer, SiteInfo
from imageboard.web.routes import build_router
from imageboard.web.templating import make_environment

__all__ = ["PageRenderer", "SiteInfo", "build_router", "make_environment"]
