"""A tiny upstream for the edge tests, standing in for parts the site does not have yet:
Server-Sent Events that report the request headers they saw, then tick slowly; and a media
file with byte ranges, counting how often it is fetched. Run: python upstream_stub.py PORT DIR"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MEDIA = Path(sys.argv[2]) / "123.png"
hits = {"media": 0}


async def events(request: Request) -> Response:
    seen = {name: request.headers.get(name, "") for name in ("x-forwarded-for", "x-real-ip", "x-request-id")}

    async def stream() -> AsyncIterator[bytes]:
        yield f"event: hello\ndata: {json.dumps(seen)}\n\n".encode()
        for tick in (1, 2):
            await asyncio.sleep(1.0)
            yield f"data: tick {tick}\n\n".encode()

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


async def media(_request: Request) -> Response:
    hits["media"] += 1
    return FileResponse(MEDIA, media_type="image/png", headers={"Cache-Control": "public, max-age=31536000, immutable"})


async def count(_request: Request) -> Response:
    return JSONResponse(hits)


app = Starlette(
    routes=[
        Route("/api/v1/stream", events),
        Route("/{board}/thread/{no:int}/events", events),
        Route("/media/b/123.png", media),
        Route("/hits", count),
    ]
)

if __name__ == "__main__":
    MEDIA.write_bytes(bytes(range(256)) * (3 * 4096 + 100))  # a little over 3 MiB
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
