"""The async contract: wait_for_port against real services, nothing blocks the event loop,
cancelling the awaiting task cancels the Rust work, and garbage collection closes gateways
and WebSockets."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time

import pytest

import portway

from support import EchoServer, free_port, start_http_server


@pytest.fixture
def sandbox() -> portway.Sandbox:
    return portway.Portway().sandbox("runtime-box")


async def test_wait_for_port_http_and_tcp(sandbox: portway.Sandbox, http_service: int) -> None:
    await sandbox.wait_for_port(http_service)
    await sandbox.wait_for_port(http_service, mode="tcp")
    await sandbox.wait_for_port(http_service, path="/missing", status=(404, 404))
    with pytest.raises(portway.PortWaitTimeoutError) as info:
        await sandbox.wait_for_port(http_service, path="/missing", timeout=0.3)
    assert "404" in str(info.value)


async def test_wait_for_port_waits_for_a_service_that_starts_late(
    sandbox: portway.Sandbox,
) -> None:
    port = free_port()
    servers = []
    timer = threading.Timer(0.4, lambda: servers.append(start_http_server(port)))
    timer.start()
    try:
        started = time.monotonic()
        await sandbox.wait_for_port(port, timeout=10, interval=0.05)
        assert time.monotonic() - started >= 0.3
    finally:
        timer.join()
        for server in servers:
            server.shutdown()
            server.server_close()


async def test_nothing_blocks_the_event_loop(sandbox: portway.Sandbox) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        with pytest.raises(portway.PortWaitTimeoutError):
            await sandbox.wait_for_port(free_port(), mode="tcp", timeout=0.5, interval=0.05)
    finally:
        task.cancel()
    assert ticks >= 20, f"the event loop ran only {ticks} times in 0.5 s"


async def test_cancelling_the_task_cancels_the_rust_future(sandbox: portway.Sandbox) -> None:
    """A server that accepts and never answers: ws_connect waits in the handshake. When the
    awaiting task is cancelled, the Rust future is dropped and with it the socket, which the
    server sees as end of file."""
    accepted = asyncio.Event()
    eof = asyncio.Event()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # until EOF
        eof.set()
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:

        async def connect() -> None:
            await sandbox.ws_connect(port, connect_timeout=60)

        task = asyncio.create_task(connect())
        await asyncio.wait_for(accepted.wait(), timeout=5)
        await asyncio.sleep(0.2)
        assert not task.done()
        assert not eof.is_set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # EOF arrives only if the Rust side dropped the connection.
        await asyncio.wait_for(eof.wait(), timeout=5)


async def test_a_cancelled_wait_returns_at_once(sandbox: portway.Sandbox) -> None:
    task = asyncio.ensure_future(sandbox.wait_for_port(free_port(), timeout=60))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1


async def test_a_cancelled_recv_leaves_the_websocket_usable(
    sandbox: portway.Sandbox, ws_service: EchoServer
) -> None:
    async with await sandbox.ws_connect(ws_service.port) as ws:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), timeout=0.2)
        await ws.send("after the cancelled recv")
        assert await ws.recv() == "after the cancelled recv"


def connectable(addr: str) -> bool:
    host, port = addr.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


async def test_a_garbage_collected_gateway_stops() -> None:
    pw = portway.Portway()
    gateway = await pw.serve("127.0.0.1:0")
    addr = gateway.local_addr
    assert connectable(addr)
    del gateway
    gc.collect()
    for _ in range(100):
        if not connectable(addr):
            break
        await asyncio.sleep(0.02)
    assert not connectable(addr), "the gateway still accepts after its handle was collected"


async def test_a_garbage_collected_websocket_closes(
    sandbox: portway.Sandbox, ws_service: EchoServer
) -> None:
    ws = await sandbox.ws_connect(ws_service.port)
    await ws.send("hi")
    assert await ws.recv() == "hi"
    del ws
    gc.collect()
    for _ in range(250):
        if ws_service.closes:
            break
        await asyncio.sleep(0.02)
    assert ws_service.closes, "the service never saw the connection end"
    # No close frame was sent: the connection was dropped (1006 on the service's side).
    assert ws_service.closes[0][0] in (None, 1006)
