"""Helpers shared by the tests: the repository's paths, free ports, and real services (an HTTP
server in a thread, a WebSocket echo server written with the `websockets` library, and the
fixture service of the gateway vectors, tests/fixture)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
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
    """A small sandbox service: `/` says hello, `/echo` (POST) returns the request body,
    anything else is 404."""

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


def fixture_binary() -> Path:
    """The fixture service's binary (tests/fixture): $PORTWAY_FIXTURE when set (python/test.sh
    builds it and sets it), else cargo's build of it, built first when it is missing."""
    if env := os.environ.get("PORTWAY_FIXTURE"):
        return Path(env)
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    binary = Path(json.loads(meta.stdout)["target_directory"]) / "debug" / "portway-fixture"
    if not binary.exists():
        subprocess.run(
            ["cargo", "build", "--locked", "-q", "-p", "portway-fixture"], cwd=REPO, check=True
        )
    return binary


@dataclass
class Fixture:
    """A running fixture service; it exits when its stdin closes (`stop`, or this process
    ending)."""

    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def start_fixture() -> Fixture:
    process = subprocess.Popen(
        [str(fixture_binary())], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    assert line.startswith("listening 127.0.0.1:"), f"the fixture said {line!r}"
    return Fixture(process, int(line.rsplit(":", 1)[1]))
