"""Our own JSON API, a sub-application mounted at ``/api/v1`` with its own OpenAPI 3.1
document at ``/api/v1/openapi.json``."""

from __future__ import annotations

import re
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Body, FastAPI, File, Form, Path, Query, Request, UploadFile
from pydantic import BaseModel
from starlette.responses import Response
from starlette.routing import Mount

from imageboard.antispam import CaptchaAttempt
from imageboard.api import cursors
from imageboard.api import v1_schemas as out
from imageboard.api.http_cache import EPOCH, PublicReads, conditional_response, newest
from imageboard.api.v1_errors import READ_RESPONSES, WRITE_RESPONSES, install_error_handlers, install_openapi
from imageboard.boards import BOARD_URI, BoardsService, CatalogEntry, CatalogSort, NewPost
from imageboard.core.clock import as_utc
from imageboard.core.errors import InvalidInput
from imageboard.core.http import client_ip
from imageboard.media.uploads import chosen_files
from imageboard.posting import PostingService, Submission
from imageboard.search import MAX_QUERY_LENGTH, SearchPage, SearchService, search_page_out

API_VERSION = "1.0.0"
PREFIX = "/api/v1"
MAX_NO = 2**53 - 1
MAX_OVERBOARD_PAGE = 1000
# The boards service names fields as 4chan's post form does; this API has its own names.
FIELD_NAMES = {
    "sub": "subject", "com": "comment", "email": "options", "pwd": "password", "upfile": "files", "resto": "no"
}

DESCRIPTION = """
The public JSON API of the imageboard.

* **Errors** all have one shape, `{"error": {"code", "message", "field"}}`, with the status code
  that fits (400 invalid input, 403 refused, 404 missing, 413 too large, 429 too fast).
* **Lists** are paginated with opaque cursors: pass a page's `next_cursor` as `cursor` to get
  the next; `limit` above 100 counts as 100.
* **Reads** carry a strong `ETag` and `Last-Modified`; send `If-None-Match` or
  `If-Modified-Since` to get `304 Not Modified` while nothing changed. Reads may be made from
  any origin (CORS); writes only from this site or from non-browser clients.
* **Files**: a post may carry several files; all are listed in `files`. (The 4chan-compatible
  API at the site root shows only the first, in 4chan's fields.) Media follow 4chan's layout:
  `{media}/{board}/{tim}{ext}` and thumbnails `{media}/{board}/{tim}s.jpg`.
"""
TAGS = [
    {"name": "boards", "description": "Boards and their settings."},
    {"name": "threads", "description": "Catalog, archive, threads and the overboard."},
    {"name": "posts", "description": "Reading, posting and deleting posts."},
    {"name": "search", "description": "Full-text search of post subjects and comments."},
]

BoardUri = Annotated[str, Path(pattern=BOARD_URI.pattern, description="Board URI, e.g. `b`.", examples=["b"])]
PostNo = Annotated[int, Path(ge=1, le=MAX_NO, description="A post (or thread) number.")]
Cursor = Annotated[str | None, Query(max_length=cursors.MAX_CURSOR_LENGTH, description="A page's `next_cursor`.")]
Name = Annotated[str, Form(max_length=100, description="Name; `name#password` adds a tripcode.")]
Options = Annotated[str, Form(max_length=100, description="`sage` to reply without bumping.")]
Comment = Annotated[str, Form(max_length=20_000, description="The text, in the site's markup.")]
Password = Annotated[str, Form(max_length=128, description="Deletion password; one is made if empty.")]
Files = Annotated[
    list[UploadFile] | None,
    File(description="Files to attach (not accepted until uploads are switched on for this site)."),
]


Limit = Annotated[int, Query(ge=1, description="Items per page; more than 100 counts as 100.")]


def _microseconds(moment: datetime | None) -> int:
    return 0 if moment is None else (as_utc(moment) - EPOCH) // timedelta(microseconds=1)


def _catalog_key(sort: CatalogSort) -> Any:
    def key(entry: CatalogEntry) -> tuple[int, ...]:
        state = entry.state
        pinned = 0 if state.sticky else 1
        if sort == "bump":
            return (pinned, -_microseconds(state.bumped_at), -state.no)
        if sort == "replies":
            return (pinned, -state.reply_count, -state.no)
        return (pinned, -state.no)

    return key


def _answer(request: Request, model: BaseModel, last_modified: datetime) -> Response:
    body = model.model_dump_json().encode()
    # CORS headers come from the PublicReads middleware, for errors as well.
    return conditional_response(request, body, media_type="application/json", last_modified=last_modified, cors=False)


def _no_nul(**fields: str) -> None:
    for name, value in fields.items():
        if "\x00" in value:
            raise InvalidInput(f"The {name} contains a NUL character; remove it.", field=name)




def build_api_v1(
    boards: BoardsService, *, posting: PostingService | None = None, search: SearchService | None = None
) -> FastAPI:
    """The v1 API. Posts go through ``posting`` (anti-spam, files, moderation) like the post
    form's; without it (tests of the read side) posts are text-only and unchecked. Without
    ``search`` there is no ``/search``."""
    api = FastAPI(
        title="Imageboard API",
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        servers=[{"url": PREFIX}],
        root_path_in_servers=False,
        generate_unique_id_function=lambda route: route.name,
    )
    install_error_handlers(api, field_names=FIELD_NAMES)
    install_openapi(api, tags=TAGS)
    api.add_middleware(PublicReads)

    @api.get("/boards", tags=["boards"], response_model=out.BoardList, responses=READ_RESPONSES)
    async def list_boards(
        request: Request, cursor: Cursor = None, limit: Limit = 50
    ) -> Response:
        """Every board, by URI."""
        views = await boards.list_boards()
        page, following = cursors.keyset_page(
            views, lambda b: (b.uri,), list_name="boards", cursor=cursor, limit=limit
        )
        model = out.BoardList(items=[out.board_out(b) for b in page], next_cursor=following)
        return _answer(request, model, newest(b.updated_at for b in views))

    @api.get("/boards/{board}", tags=["boards"], response_model=out.Board, responses=READ_RESPONSES)
    async def get_board(request: Request, board: BoardUri) -> Response:
        """One board and its settings."""
        view = await boards.get_board(board)
        return _answer(request, out.board_out(view), view.updated_at)

    @api.get(
        "/boards/{board}/catalog", tags=["threads"], response_model=out.CatalogPage, responses=READ_RESPONSES
    )
    async def get_catalog(
        request: Request,
        board: BoardUri,
        sort: Annotated[CatalogSort, Query(description="Order: last bump, creation, or replies.")] = "bump",
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Response:
        """The live threads of a board with their opening posts; stickies first."""
        view, entries = await boards.catalog(board, sort)
        page, following = cursors.keyset_page(
            entries, _catalog_key(sort), list_name=f"catalog:{board}:{sort}", cursor=cursor, limit=limit
        )
        model = out.CatalogPage(items=[out.catalog_out(e) for e in page], next_cursor=following)
        return _answer(request, model, newest([view.updated_at, *(e.state.updated_at for e in entries)]))

    @api.get(
        "/boards/{board}/archive", tags=["threads"], response_model=out.CatalogPage, responses=READ_RESPONSES
    )
    async def get_archive(
        request: Request, board: BoardUri, cursor: Cursor = None, limit: Limit = 50
    ) -> Response:
        """Archived threads of a board, most recently archived first. They can be read, not replied to."""
        view, entries = await boards.archive(board)
        page, following = cursors.keyset_page(
            entries,
            lambda e: (-_microseconds(e.state.archived_at), -e.state.no),
            list_name=f"archive:{board}",
            cursor=cursor,
            limit=limit,
        )
        model = out.CatalogPage(items=[out.catalog_out(e) for e in page], next_cursor=following)
        return _answer(request, model, newest([view.updated_at, *(e.state.updated_at for e in entries)]))

    @api.get(
        "/boards/{board}/threads/{no}", tags=["threads"], response_model=out.Thread, responses=READ_RESPONSES
    )
    async def get_thread(request: Request, board: BoardUri, no: PostNo) -> Response:
        """A whole thread: its state and every post."""
        view = await boards.thread(board, no)
        modified = newest([view.state.updated_at, *(p.edited_at for p in view.posts)])
        return _answer(request, out.thread_out(view), modified)

    @api.get(
        "/boards/{board}/threads/{no}/posts", tags=["posts"], response_model=out.PostPage, responses=READ_RESPONSES
    )
    async def list_posts(
        request: Request,
        board: BoardUri,
        no: PostNo,
        cursor: Cursor = None,
        limit: Limit = 100,
    ) -> Response:
        """The posts of a thread in order, a page at a time (poll with the last cursor for new posts)."""
        view = await boards.thread(board, no)
        page, following = cursors.keyset_page(
            view.posts, lambda p: (p.no,), list_name=f"posts:{board}:{no}", cursor=cursor, limit=limit
        )
        model = out.PostPage(items=[out.post_out(p) for p in page], next_cursor=following)
        return _answer(request, model, newest([view.state.updated_at, *(p.edited_at for p in view.posts)]))

    @api.get("/overboard", tags=["threads"], response_model=out.ThreadPreviewPage, responses=READ_RESPONSES)
    async def get_overboard(
        request: Request,
        work_safe_only: Annotated[bool, Query(description="Only threads of work-safe boards.")] = False,
        cursor: Cursor = None,
        limit: Limit = 15,
    ) -> Response:
        """Threads of every board in bump order, with their last replies. A cursor keeps the
        page size it was made with."""
        list_name = f"overboard:{int(work_safe_only)}"
        page_no, per_page = 1, cursors.clamp_limit(limit)
        if cursor is not None:
            page_no, per_page = _overboard_position(cursors.decode(list_name, cursor))
        view = await boards.overboard(work_safe_only=work_safe_only, page=page_no, per_page=per_page)
        following = (
            cursors.encode(list_name, [page_no + 1, per_page])
            if view.has_next and page_no < MAX_OVERBOARD_PAGE
            else None
        )
        model = out.ThreadPreviewPage(items=[out.preview_out(t) for t in view.threads], next_cursor=following)
        modified = newest(
            [*(t.state.updated_at for t in view.threads), *(t.board.updated_at for t in view.threads)]
        )
        return _answer(request, model, modified)

    async def _post(request: Request, new: NewPost, files: list[UploadFile] | None) -> tuple[out.PostCreated, str]:
        _no_nul(name=new.name, options=new.options, subject=new.subject, comment=new.comment, password=new.password)
        generated = None
        if not new.password:
            generated = secrets.token_urlsafe(12)
            new = replace(new, password=generated)
        if posting is None:
            if any(f.filename for f in files or []):
                raise InvalidInput("This site does not accept files.", field="files", code="files_disabled")
            created = await boards.create_post(new)
        else:
            created = (
                await posting.submit(
                    Submission(
                        board=new.board, thread_no=new.thread_no, name=new.name, options=new.options,
                        subject=new.subject, comment=new.comment, password=new.password, ip=new.ip,
                        uploads=chosen_files(list(files or [])),
                        captcha=CaptchaAttempt.from_form(await request.form(), request.cookies),
                    )
                )
            ).created
        api_url = f"{PREFIX}/boards/{created.board}/threads/{created.thread_no}"
        model = out.PostCreated(
            board=created.board,
            thread_no=created.thread_no,
            no=created.post_no,
            url=f"/{created.board}/thread/{created.thread_no}#p{created.post_no}",
            api_url=api_url,
            password=generated,
        )
        return model, api_url

    @api.post(
        "/boards/{board}/threads",
        tags=["posts"],
        status_code=201,
        response_model=out.PostCreated,
        responses=WRITE_RESPONSES,
    )
    async def create_thread(
        request: Request,
        response: Response,
        board: BoardUri,
        name: Name = "",
        options: Options = "",
        subject: Annotated[str, Form(max_length=100, description="The thread's subject.")] = "",
        comment: Comment = "",
        password: Password = "",
        files: Files = None,
    ) -> out.PostCreated:
        """Start a thread (multipart/form-data)."""
        new = NewPost(
            board=board, thread_no=0, name=name, options=options, subject=subject, comment=comment,
            password=password, ip=client_ip(request),
        )
        model, location = await _post(request, new, files)
        response.headers["Location"] = location
        return model

    @api.post(
        "/boards/{board}/threads/{no}/posts",
        tags=["posts"],
        status_code=201,
        response_model=out.PostCreated,
        responses=WRITE_RESPONSES,
    )
    async def create_reply(
        request: Request,
        response: Response,
        board: BoardUri,
        no: PostNo,
        name: Name = "",
        options: Options = "",
        comment: Comment = "",
        password: Password = "",
        files: Files = None,
    ) -> out.PostCreated:
        """Reply to a thread (multipart/form-data)."""
        new = NewPost(
            board=board, thread_no=no, name=name, options=options, comment=comment,
            password=password, ip=client_ip(request),
        )
        model, location = await _post(request, new, files)
        response.headers["Location"] = location
        return model

    @api.delete(
        "/boards/{board}/posts/{no}", tags=["posts"], response_model=out.PostDeleted, responses=WRITE_RESPONSES
    )
    async def delete_post(board: BoardUri, no: PostNo, body: Annotated[out.DeletePost, Body()]) -> out.PostDeleted:
        """Delete your own post (its whole thread, if it is the opening post) with its password."""
        _no_nul(password=body.password)
        thread_deleted = await boards.delete_own_post(board, no, body.password, file_only=body.file_only)
        return out.PostDeleted(board=board, no=no, thread_deleted=thread_deleted)

    if search is not None:
        _add_search(api, boards, search)

    return api


def _add_search(api: FastAPI, boards: BoardsService, search: SearchService) -> None:
    """``GET /search`` (the search context's endpoint in this API)."""

    @api.get("/search", tags=["search"], response_model=SearchPage, responses=READ_RESPONSES)
    async def search_posts(
        request: Request,
        q: Annotated[
            str,
            Query(
                description=f"Words to find (at most {MAX_QUERY_LENGTH} characters). Every word must appear; "
                '`"a phrase"` finds the words in order, `word*` words starting so (3 characters at least), '
                "`-word` leaves out posts with the word. Anything else is plain text.",
                examples=["rust async"],
            ),
        ],
        board: Annotated[
            str | None, Query(pattern=BOARD_URI.pattern, description="Search one board; every board when absent.")
        ] = None,
        cursor: Cursor = None,
        limit: Annotated[int, Query(ge=1, description="Items per page; more than 100 counts as 100.")] = 20,
    ) -> Response:
        """Posts whose subject or comment match, newest first, on one board or all of them.
        Posts held for approval and deleted posts are never found; archived threads are."""
        results = await search.search(q, board=board, cursor=cursor, limit=cursors.clamp_limit(limit))
        modified = await boards.version(board) or EPOCH
        return _answer(request, search_page_out(results, api_prefix=PREFIX), modified)


def build_api_v1_mount(
    boards: BoardsService, *, posting: PostingService | None = None, search: SearchService | None = None
) -> Mount:
    """The v1 sub-application as a route at ``/api/v1``, for ``app.router.routes``.

    Like ``app.mount("/api/v1", build_api_v1(boards))``, except that the mount also matches
    paths holding a (percent-encoded) newline: Starlette's own mount pattern stops at one, so
    such a request would fall through to the site's HTML 404 page instead of this API's JSON.
    """
    mount = Mount(PREFIX, app=build_api_v1(boards, posting=posting, search=search), name="api_v1")
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    return mount


def _overboard_position(key: list[Any]) -> tuple[int, int]:
    if (
        len(key) == 2
        and all(type(v) is int for v in key)
        and 1 <= key[0] <= MAX_OVERBOARD_PAGE
        and 1 <= key[1] <= cursors.MAX_LIMIT
    ):
        return int(key[0]), int(key[1])
    raise InvalidInput("This cursor is not valid here.", field="cursor", code="invalid_cursor")
