"""HTTP written by hand: requests a well-behaved client library refuses to send."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from tests.reliability.services import Site


@dataclass
class Answer:
    status: int | None  # None: the server closed the connection without an answer
    head: bytes
    body: bytes


def raw(site: Site, request: bytes, *, read_timeout: float = 20.0, half_close: bool = False) -> Answer:
    """Send ``request`` as is, then read the whole answer (the request asks the server to
    close the connection after it). ``half_close`` also ends our side of the connection
    after sending, which the server takes for a client that went away."""
    port = int(site.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        try:
            sock.sendall(request)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused before reading everything: what it answered still counts
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    head, _, body = received.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        return Answer(None, head, body)
    return Answer(int(head.split(b" ", 2)[1]), head, body)


def request(
    method: str, path: str, body: bytes = b"", headers: list[tuple[str, str]] | None = None, *, length: bool = True
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers or []]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
