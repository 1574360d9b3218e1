"""HTTP for what a board shows posters besides its threads: its rules page, its banners and
its spoiler image — and the owner's forms that upload and remove those images.

Pages stay cacheable for everyone: a page names ``/{board}/banner``, which redirects (never
cached) to one of the board's banners chosen per request; the banner and spoiler files have
content-addressed names and are cached for good. ``/{board}/spoiler`` is the board's custom
spoiler image, or the site's when it has none.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response, StreamingResponse

from imageboard.accounts import Actor, Permission
from imageboard.accounts.routes import check_form_token
from imageboard.core.errors import InvalidInput, NotFound
from imageboard.moderation.errors import require
from imageboard.moderation.forms import MAX_FIELDS, done, text
from imageboard.moderation.service import ModerationService

if TYPE_CHECKING:
    from imageboard.web import PageRenderer

IMMUTABLE = "public, max-age=31536000, immutable"
SPOILER_CACHE = "public, max-age=300"  # a board may change its spoiler image
DEFAULT_SPOILER = "/static/img/spoiler.png"


def _upload(form: FormData) -> UploadFile:
    value = form.get("file")
    if not isinstance(value, UploadFile) or not value.filename:
        raise InvalidInput("Choose an image file first.", field="file")
    return value


def build_board_router(moderation: ModerationService, pages: PageRenderer) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    assets, admin = moderation.assets, moderation.admin

    async def upload_form(request: Request, board: str) -> tuple[FormData, Actor]:
        form = await request.form(max_files=1, max_fields=MAX_FIELDS)
        try:
            info = await check_form_token(request, form)
            # Refused before the file is looked at, let alone stored.
            require(info.actor, Permission.EDIT_BOARD, board)
        except BaseException:
            await form.close()
            raise
        return form, info.actor

    # --- the owner's forms ----------------------------------------------------------------------

    @router.post("/staff/board/{board}/banners")
    async def add_banner(request: Request, board: str) -> Response:
        form, actor = await upload_form(request, board)
        try:
            name = await assets.add_banner(actor, board, _upload(form))
        finally:
            await form.close()
        return done(request, form, f"/staff/board/{board}#banners", banner=name)

    @router.post("/staff/board/{board}/banners/delete")
    async def remove_banner(request: Request, board: str) -> Response:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
        info = await check_form_token(request, form)
        await assets.remove_banner(info.actor, board, text(form, "name", limit=100).strip())
        return done(request, form, f"/staff/board/{board}#banners")

    @router.post("/staff/board/{board}/spoiler")
    async def set_spoiler(request: Request, board: str) -> Response:
        form, actor = await upload_form(request, board)
        try:
            name = await assets.set_spoiler(actor, board, _upload(form))
        finally:
            await form.close()
        return done(request, form, f"/staff/board/{board}#spoiler", spoiler=name)

    @router.post("/staff/board/{board}/spoiler/delete")
    async def remove_spoiler(request: Request, board: str) -> Response:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
        info = await check_form_token(request, form)
        await assets.remove_spoiler(info.actor, board)
        return done(request, form, f"/staff/board/{board}#spoiler")

    # --- public --------------------------------------------------------------------------------

    @router.get("/{board}/rules")
    async def rules_page(request: Request, board: str) -> Response:
        settings = await admin.public_board_settings(board)
        site = await admin.site_settings()
        return await pages.render(
            request, "pages/rules.html", board=settings.board, settings=settings, site_rules=site.rule_list
        )

    @router.get("/{board}/banner")
    async def random_banner(board: str) -> Response:
        view = (await admin.public_board_settings(board)).board
        if not view.banners:
            raise NotFound(f"/{board}/ has no banners.", code="banner_not_found")
        chosen = secrets.choice(view.banners)
        return RedirectResponse(f"/{board}/banners/{chosen}", status_code=302, headers={"Cache-Control": "no-store"})

    @router.get("/{board}/banners/{name}")
    async def banner_file(board: str, name: str) -> Response:
        view = (await admin.public_board_settings(board)).board
        if name not in view.banners:
            raise NotFound(f"/{board}/ has no banner '{name[:80]}'.", code="banner_not_found")
        return await _image(board, name, IMMUTABLE)

    @router.get("/{board}/spoiler")
    async def spoiler_image(board: str) -> Response:
        view = (await admin.public_board_settings(board)).board
        if not view.custom_spoiler:
            return RedirectResponse(DEFAULT_SPOILER, status_code=302, headers={"Cache-Control": SPOILER_CACHE})
        return await _image(board, view.custom_spoiler, SPOILER_CACHE)

    async def _image(board: str, name: str, cache: str) -> Response:
        images = moderation.ctx.images
        found = await images.content(board, name) if images is not None else None
        if found is None:
            raise NotFound("The image is missing from storage.", code="image_missing")
        if found.public_url is not None:
            return RedirectResponse(found.public_url, status_code=302, headers={"Cache-Control": "public, max-age=300"})
        assert found.chunks is not None
        headers = {
            "Cache-Control": cache,
            "ETag": f'"{name}"',
            "Content-Length": str(found.size),
            "X-Content-Type-Options": "nosniff",
        }
        return StreamingResponse(found.chunks, media_type=found.mime, headers=headers)

    return router
