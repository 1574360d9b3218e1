"""Swagger UI for the v1 API at ``/api/docs``, from the files of the ``swagger-ui-bundle-v2``
package: nothing is fetched from another host, and the page runs under a CSP that allows
only this site (the start-up script is a file we serve, not inline).

Swagger UI sets element styles from JavaScript, which ``style-src 'self'`` permits (CSP
governs style elements and attributes in markup, not CSSOM writes); the page therefore keeps
the site's policy and only adds ``connect-src 'self'`` and ``img-src 'self' data:`` explicitly.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fastapi import APIRouter
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response

DOCS_PATH = "/api/docs"
OPENAPI_URL = "/api/v1/openapi.json"
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "index.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API documentation</title>
<link rel="stylesheet" href="{DOCS_PATH}/assets/swagger-ui.css">
<link rel="stylesheet" href="{DOCS_PATH}/assets/index.css">
<link rel="icon" type="image/png" href="{DOCS_PATH}/assets/favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{DOCS_PATH}/assets/swagger-ui-bundle.js"></script>
<script src="{DOCS_PATH}/init.js"></script>
</body>
</html>
"""

INIT_JS = f"""// Starts Swagger UI on this site's own OpenAPI document; no other host is contacted.
window.addEventListener("DOMContentLoaded", function () {{
  window.ui = SwaggerUIBundle({{
    url: "{OPENAPI_URL}",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    displayRequestDuration: true
  }});
}});
"""


def assets_directory() -> Path:
    bundle = importlib.import_module("swagger_ui_bundle")
    return Path(str(bundle.swagger_ui_path))


def build_swagger_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    directory = assets_directory()
    headers = {"Content-Security-Policy": DOCS_CSP}

    @router.get(DOCS_PATH)
    async def docs_page() -> Response:
        return Response(PAGE, media_type="text/html; charset=utf-8", headers=headers)

    @router.get(f"{DOCS_PATH}/init.js")
    async def init_script() -> Response:
        return Response(INIT_JS, media_type="text/javascript; charset=utf-8", headers=headers)

    @router.get(DOCS_PATH + "/assets/{name}")
    async def asset(name: str) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise HTTPException(404)
        return FileResponse(
            directory / name, media_type=media_type, headers={**headers, "Cache-Control": "public, max-age=86400"}
        )

    return router
