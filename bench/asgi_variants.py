"""The site's ASGI application with one part swapped, for the comparisons of bench/servers.py.

    uvicorn --app-dir bench --factory asgi_variants:orjson_application

``orjson_application`` encodes the 4chan JSON documents with orjson instead of the standard
library (``imageboard.api.common.json_bytes``: ``json.dumps(ensure_ascii=False,
separators=(",", ":"))``); both give compact UTF-8 JSON.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI

import imageboard.api.fourchan_routes as fourchan_routes
from imageboard.asgi import application


def _orjson_bytes(document: Any) -> bytes:
    return orjson.dumps(document)


def orjson_application() -> FastAPI:
    if not hasattr(fourchan_routes, "json_bytes"):
        raise RuntimeError("imageboard.api.fourchan_routes no longer uses json_bytes: update bench/asgi_variants.py")
    fourchan_routes.json_bytes = _orjson_bytes
    return application()
