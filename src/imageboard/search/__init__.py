"""Full-text search of post subjects and comments, per board and site-wide: SQLite FTS5 in the
embedded default, PostgreSQL full-text search (tsvector + GIN) in production.

Other contexts use only what is exported here. HTTP routes are in ``search.routes`` and the
worker registrar in ``search.tasks``, imported where they are composed.
"""

from imageboard.search.query import MAX_QUERY_LENGTH, MAX_TERMS
from imageboard.search.schemas import SearchHit, SearchHitView, SearchPage, SearchResultsView, search_page_out
from imageboard.search.service import SearchService

__all__ = [
    "MAX_QUERY_LENGTH",
    "MAX_TERMS",
    "SearchHit",
    "SearchHitView",
    "SearchPage",
    "SearchResultsView",
    "SearchService",
    "search_page_out",
]
