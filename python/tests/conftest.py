"""Fixtures: real services for the gateway and WebSocket tests (the fixture service of the
gateway vectors among them), a redis-server for the Redis store's, and the vector summary."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.server import ServerConnection

from support import (
    VECTORS_RUN,
    EchoServer,
    Fixture,
    RedisServer,
    start_fixture,
    start_http_server,
    start_redis,
)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if VECTORS_RUN:
        files = ", ".join(f"{name}: {n}" for name, n in sorted(VECTORS_RUN.items()))
        total = sum(VECTORS_RUN.values())
        terminalreporter.write_line(f"conformance vectors run: {total} ({files})")


@pytest.fixture(scope="session")
def fixture_service() -> Iterator[Fixture]:
    """The fixture service (tests/fixture), one for the whole run."""
    service = start_fixture()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own (no persistence), killed when the test ends."""
    server = start_redis(tmp_path / "redis")
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def http_service() -> Iterator[int]:
    """The port of a real HTTP server (http.server in a thread)."""
    server = start_http_server()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def ws_service() -> AsyncIterator[EchoServer]:
    """A real WebSocket echo server written with `websockets`. Messages are echoed, except:
    `"close-me"` makes the server close with 4001 "bye", `"header"` answers with the
    request's X-Test header, `"host"` with its Host header."""
    echo = EchoServer(port=0)

    async def handler(ws: ServerConnection) -> None:
        echo.connections.append(ws)
        try:
            async for message in ws:
                if message == "close-me":
                    await ws.close(4001, "bye")
                elif message == "header":
                    await ws.send(ws.request.headers.get("X-Test", "") if ws.request else "")
                elif message == "host":
                    await ws.send(ws.request.headers.get("Host", "") if ws.request else "")
                else:
                    await ws.send(message)
        finally:
            echo.closes.append((ws.close_code, ws.close_reason))

    def select_subprotocol(ws: ServerConnection, offered: Sequence[str]) -> str | None:
        """The first offered of "chat" and "superchat"; None (no subprotocol) otherwise."""
        return next((p for p in offered if p in ("chat", "superchat")), None)

    async with websockets.serve(
        handler,
        "127.0.0.1",
        0,
        select_subprotocol=select_subprotocol,  # type: ignore[arg-type]
    ) as server:
        echo.port = int(next(iter(server.sockets)).getsockname()[1])
        yield echo
