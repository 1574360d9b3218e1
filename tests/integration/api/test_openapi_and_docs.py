"""The v1 OpenAPI 3.1 document (and its committed copy) and the offline Swagger UI page."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .conftest import Site

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"
UPDATE = os.environ.get("IMAGEBOARD_UPDATE_OPENAPI") == "1"


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]


async def test_committed_openapi_matches_the_app(sqlite_site: Site) -> None:
    """docs/openapi.json is the published contract. After changing the API, regenerate it with
    ``IMAGEBOARD_UPDATE_OPENAPI=1 pytest tests/integration/api/test_openapi_and_docs.py``."""
    response = await sqlite_site.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    live = response.json()
    if UPDATE:
        COMMITTED.write_text(json.dumps(live, indent=2, ensure_ascii=False) + "\n")
    committed = json.loads(COMMITTED.read_text())
    assert live == committed, (
        "docs/openapi.json is out of date with /api/v1/openapi.json; regenerate it with "
        "IMAGEBOARD_UPDATE_OPENAPI=1 and review the diff"
    )


async def test_openapi_document_is_v1_only_and_documents_errors(sqlite_site: Site) -> None:
    document = (await sqlite_site.client.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.1.")
    assert document["servers"] == [{"url": "/api/v1"}]
    assert document["info"]["title"] == "Imageboard API"
    assert all(path.startswith(("/boards", "/overboard", "/search")) for path in document["paths"])
    assert '"422"' not in json.dumps(document)
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ErrorResponse" in schemas
    ids = set()
    for path, method, operation in _operations(document):
        ids.add(operation["operationId"])
        assert "422" not in operation["responses"], (path, method)
        error = operation["responses"]["400"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorResponse"}, (path, method)
        assert "404" in operation["responses"], (path, method)
        if method == "get":
            assert "304" in operation["responses"]
    assert ids == {
        "list_boards", "get_board", "get_catalog", "get_archive", "get_thread", "list_posts", "get_overboard",
        "create_thread", "create_reply", "delete_post", "search_posts",
    }
    create = document["paths"]["/boards/{board}/threads"]["post"]["requestBody"]["content"]
    assert list(create) == ["multipart/form-data"]


async def test_swagger_ui_page_is_self_contained(sqlite_site: Site) -> None:
    client = sqlite_site.client
    page = await client.get("/api/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe" not in policy and "http" not in policy
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text), "no asset from another host"
    assert "<script>" not in page.text and "<style" not in page.text and "style=" not in page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/api/docs/") for s in sources)
    for source in sources:
        asset = await client.get(source)
        assert asset.status_code == 200, source
    init = (await client.get("/api/docs/init.js")).text
    assert '"/api/v1/openapi.json"' in init and "validatorUrl: null" in init
    assert (await client.get("/api/docs/assets/swagger-ui.css")).headers["content-type"].startswith("text/css")
    for missing in ("/api/docs/assets/index.html", "/api/docs/assets/..%2F..%2F__init__.py", "/api/docs/assets/x.js"):
        assert (await client.get(missing)).status_code == 404, missing
