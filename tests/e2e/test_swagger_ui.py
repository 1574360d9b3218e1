"""Swagger UI at /api/docs works offline: Chromium may reach 127.0.0.1 only, the page renders
the v1 operations, runs one call, and breaks no Content-Security-Policy rule."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Route, expect

from .conftest import RunningServer

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def api_server(server: RunningServer) -> str:
    return server.url


async def test_swagger_ui_renders_and_runs_a_call_offline(api_server: str, browser: Browser) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    blocked: list[str] = []
    console_errors: list[str] = []

    async def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_loopback)
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    try:
        response = await page.goto(f"{api_server}/api/docs")
        assert response is not None and response.status == 200
        # The operations of the v1 document are listed.
        get_boards = page.locator("#operations-boards-list_boards")
        await expect(get_boards).to_be_visible(timeout=20_000)
        async with httpx.AsyncClient() as client:
            document = (await client.get(f"{api_server}/api/v1/openapi.json")).json()
        operations = sum(len(methods) for methods in document["paths"].values())
        await expect(page.locator(".opblock")).to_have_count(operations)
        await expect(page.locator(".info .title")).to_contain_text("Imageboard API")

        # Try it out -> Execute on GET /boards, and the UI shows the live 200 answer.
        await get_boards.locator(".opblock-summary").click()
        await get_boards.get_by_role("button", name="Try it out").click()
        await get_boards.get_by_role("button", name="Execute").click()
        live = get_boards.locator(".live-responses-table .response .response-col_status")
        await expect(live).to_have_text("200", timeout=20_000)
        await expect(get_boards.locator(".live-responses-table .highlight-code")).to_contain_text('"uri"')

        assert blocked == [], f"requests to other hosts were attempted: {blocked}"
        assert not [e for e in console_errors if "Content Security Policy" in e or "Refused" in e], console_errors
        assert console_errors == [], console_errors
    finally:
        await context.close()
