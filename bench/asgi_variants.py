"""The site's ASGI application with one part swapped, for the comparisons of bench/servers.py.

    uvicorn --app-dir bench --factory asgi_variants:stdlib_json_application

``stdlib_json_application`` encodes the 4chan JSON documents with the standard library
(``json.dumps(ensure_ascii=False, separators=(",", ":"))``) instead of orjson, which the
site ships (``imageboard.api.common.json_bytes``); both give the same compact UTF-8 JSON.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

import imageboard.api.fourchan_routes as fourchan_routes
from imageboard.asgi import application


def stdlib_json_bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def stdlib_json_application() -> FastAPI:
    if not hasattr(fourchan_routes, "json_bytes"):
        raise RuntimeError("imageboard.api.fourchan_routes no longer uses json_bytes: update bench/asgi_variants.py")
    fourchan_routes.json_bytes = stdlib_json_bytes
    return application()
