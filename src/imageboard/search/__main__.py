"""``python -m imageboard.search reindex``: rebuild the search index from the posts table.

For a database whose posts were written around the posting path (a bulk load, a restored
dump taken without the index). The site may keep running: each batch of ids is rebuilt in a
transaction of its own, and new posts are indexed as usual meanwhile.
"""

from __future__ import annotations

import asyncio
import sys

from imageboard.config import load_settings
from imageboard.core.db import Database
from imageboard.search.service import SearchService

USAGE = "usage: python -m imageboard.search reindex"


async def reindex() -> int:
    settings = load_settings()
    db = Database(settings.effective_database_url)
    try:
        return await SearchService(db).reindex()
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args != ["reindex"]:
        raise SystemExit(USAGE)
    count = asyncio.run(reindex())
    print(f"search index rebuilt: {count} posts")


if __name__ == "__main__":
    main()
