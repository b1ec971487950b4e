"""Helpers shared by the tests: the repository's paths, free ports, and real services (an HTTP
server in a thread, a WebSocket echo server written with the `websockets` library)."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from websockets.asyncio.server import ServerConnection

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors"

# How many vector cases each file ran, for the summary at the end of the run.
VECTORS_RUN: Counter[str] = Counter()


def free_port() -> int:
    """A port nothing listens on (at the moment of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Handler(BaseHTTPRequestHandler):
    """A small sandbox service: `/` says hello, `/headers` shows the request headers,
    `/echo` returns the request body, `/cookies` sets two cookies, `/redirect` redirects,
    `/missing` is 404."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/":
            self.reply(200, b"hello from the sandbox", {"Content-Type": "text/plain"})
        elif self.path.startswith("/headers"):
            body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
            self.reply(200, body, {"Content-Type": "application/json"})
        elif self.path == "/cookies":
            self.send_response(200)
            self.send_header("Set-Cookie", "a=1; Path=/")
            self.send_header("Set-Cookie", "b=2; Path=/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/redirect":
            self.reply(302, b"", {"Location": "/elsewhere"})
        else:
            self.reply(404, b"not here")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.reply(200, self.rfile.read(length), {"Content-Type": "application/octet-stream"})


def start_http_server(port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@dataclass
class EchoServer:
    port: int
    # (close code, close reason) of each connection, as the server saw it, once closed.
    closes: list[tuple[int | None, str | None]] = field(default_factory=list)
    connections: list[ServerConnection] = field(default_factory=list)

    def close_frames(self) -> list[tuple[int, str]]:
        """The close frames the server received, as soon as they arrive (before the TCP
        connection ends)."""
        return [
            (c.protocol.close_rcvd.code, c.protocol.close_rcvd.reason)
            for c in self.connections
            if c.protocol.close_rcvd is not None
        ]
