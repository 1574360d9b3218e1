"""Public JSON APIs: the 4chan-compatible read API and feeds at the site root, our own API at
``/api/v1`` (with its OpenAPI document) and Swagger UI at ``/api/docs``.

Wiring (in ``app.py``), before the HTML routes so that ``/boards.json`` is not taken for a
board::

    app.include_router(build_fourchan_router(boards, media_base_url=..., site_name=..., public_url=...))
    app.include_router(build_swagger_router())
    app.router.routes.append(build_api_v1_mount(boards))  # the sub-app build_api_v1() at /api/v1
"""

from imageboard.api.fourchan_routes import build_fourchan_router
from imageboard.api.fourchan_schemas import FourchanLimits
from imageboard.api.swagger import build_swagger_router
from imageboard.api.v1_routes import build_api_v1, build_api_v1_mount

__all__ = ["FourchanLimits", "build_api_v1", "build_api_v1_mount", "build_fourchan_router", "build_swagger_router"]
