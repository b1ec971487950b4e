"""Helpers shared by the tests: the repository's paths, free ports, and real services (an HTTP
server in a thread, a WebSocket echo server written with the `websockets` library, the
fixture service of the gateway vectors, tests/fixture, and a redis-server of a test's own)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
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


def redis_binary() -> str:
    """The redis-server to run: $PORTWAY_REDIS_SERVER when set, else `redis-server` on the
    PATH. Missing: the test fails, saying how to install it (never skipped)."""
    name = os.environ.get("PORTWAY_REDIS_SERVER") or "redis-server"
    binary = shutil.which(name)
    if binary is None:
        pytest.fail(
            f"no {name} to run: install it with scripts/redis.sh (or apt-get install "
            "redis-server), or name it in PORTWAY_REDIS_SERVER",
            pytrace=False,
        )
    return binary


def redis_ping(port: int) -> bool:
    """Whether a Redis on 127.0.0.1:`port` answers PING with +PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A redis-server of a test's own, on a free loopback port, without persistence (its data
    lives in its memory only); `kill` stops it (SIGKILL)."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def start_redis(directory: Path) -> RedisServer:
    """Starts a redis-server working in `directory` (created) and waits until it answers
    PING (10 s at most)."""
    binary = redis_binary()
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = directory / "redis.log"
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(directory), "--daemonize", "no", "--logfile", str(log)]
    process = subprocess.Popen(
        [binary, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(process, port, log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if redis_ping(port):
            return server
        if process.poll() is not None:
            break
        time.sleep(0.02)
    server.kill()
    said = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    pytest.fail(f"{binary} on port {port} did not answer PING: {said}", pytrace=False)
