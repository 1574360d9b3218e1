"""A local HTTP endpoint that records what is posted to it: stands in for an OTLP collector
and for Sentry's ingestion API."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Captured:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class CaptureServer:
    server: ThreadingHTTPServer
    received: list[Captured] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_capture() -> CaptureServer:
    received: list[Captured] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            received.append(Captured(self.path, dict(self.headers), self.rfile.read(length)))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return CaptureServer(server, received)
