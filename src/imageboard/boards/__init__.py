"""Boards, threads and posts: the heart of the site.

Other contexts use only what is exported here.
"""

from imageboard.boards.markup import comment_excerpt
from imageboard.boards.schemas import (
    BOARD_URI,
    Backlink,
    BoardPage,
    BoardSpec,
    BoardSummary,
    BoardView,
    CatalogEntry,
    CatalogSort,
    NewPost,
    OpeningStamp,
    OverboardPage,
    PostCreated,
    PostStamp,
    PostView,
    ThreadOutline,
    ThreadState,
    ThreadView,
)
from imageboard.boards.service import BoardsService, public_post

__all__ = [
    "BOARD_URI",
    "Backlink",
    "BoardPage",
    "BoardSpec",
    "BoardSummary",
    "BoardView",
    "BoardsService",
    "CatalogEntry",
    "CatalogSort",
    "NewPost",
    "OpeningStamp",
    "OverboardPage",
    "PostCreated",
    "PostStamp",
    "PostView",
    "ThreadOutline",
    "ThreadState",
    "ThreadView",
    "comment_excerpt",
    "public_post",
]
