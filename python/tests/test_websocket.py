"""`ws_connect` against a real WebSocket echo server written with `websockets`: text, binary,
close codes and reasons both ways, async iteration, subprotocols, headers, limits."""

from __future__ import annotations

import asyncio

import pytest

import portway

from support import EchoServer


@pytest.fixture
def sandbox() -> portway.Sandbox:
    return portway.Portway().sandbox("ws-client-box")


async def test_text_binary_and_a_close_with_code_and_reason(
    sandbox: portway.Sandbox, ws_service: EchoServer
) -> None:
    ws = await sandbox.ws_connect(ws_service.port)
    assert ws.protocol is None
    assert ws.closed is False
    await ws.send("hello")
    assert await ws.recv() == "hello"
    await ws.send(b"\x00\xffbytes")
    got = await ws.recv()
    assert isinstance(got, bytes) and got == b"\x00\xffbytes"
    await ws.send(bytearray(b"array"))
    assert await ws.recv() == b"array"
    await ws.send(memoryview(b"view"))
    assert await ws.recv() == b"view"
    await ws.send("é ünïcödé ✓")
    assert await ws.recv() == "é ünïcödé ✓"
    await ws.close(4001, "client says bye")
    assert ws.closed is True
    # close() returns once the service answered the close frame; the TCP connection ends
    # then too, while `ws` is still alive, so the service's handler finishes at once.
    assert ws_service.close_frames() == [(4001, "client says bye")]
    for _ in range(100):
        if ws_service.closes:
            break
        await asyncio.sleep(0.02)
    assert ws_service.closes == [(4001, "client says bye")]
    assert await ws.recv() is None
    await ws.close()  # twice is harmless
    with pytest.raises(portway.WsClosedError):
        await ws.send("after close")


async def test_the_service_closes_with_4001(
    sandbox: portway.Sandbox, ws_service: EchoServer
) -> None:
    ws = await sandbox.ws_connect(ws_service.port)
    await ws.send("close-me")
    assert await ws.recv() is None
    assert ws.close_code == 4001
    assert ws.close_reason == "bye"


async def test_async_iteration_and_async_with(
    sandbox: portway.Sandbox, ws_service: EchoServer
) -> None:
    async with await sandbox.ws_connect(ws_service.port) as ws:
        for i in range(5):
            await ws.send(f"message {i}")
        await ws.send("close-me")
        received = [message async for message in ws]
    assert received == [f"message {i}" for i in range(5)]
    assert ws.close_code == 4001
    assert ws.closed


async def test_subprotocols_headers_and_path(
    sandbox: portway.Sandbox, ws_service: EchoServer
) -> None:
    async with await sandbox.ws_connect(
        ws_service.port,
        path="/room?name=1",
        headers={"X-Test": "from-python"},
        subprotocols=["superchat", "chat"],
    ) as ws:
        assert ws.protocol == "superchat"
        await ws.send("header")
        assert await ws.recv() == "from-python"
        await ws.send("host")
        assert await ws.recv() == f"localhost:{ws_service.port}"
    async with await sandbox.ws_connect(ws_service.port, headers=[("X-Test", "pairs")]) as ws:
        await ws.send("header")
        assert await ws.recv() == "pairs"


async def test_limits_and_bad_arguments(sandbox: portway.Sandbox, ws_service: EchoServer) -> None:
    async with await sandbox.ws_connect(ws_service.port, max_message_size=1024) as ws:
        with pytest.raises(portway.WsError):
            await ws.send("x" * 2000)
        with pytest.raises(portway.InvalidArgumentError):
            await ws.close(1005)
        with pytest.raises(portway.InvalidArgumentError):
            await ws.close(1000, "r" * 124)
        await ws.send("still open")
        assert await ws.recv() == "still open"
    assert "closed=True" in repr(ws)


async def test_concurrent_receivers_and_senders(
    sandbox: portway.Sandbox, ws_service: EchoServer
) -> None:
    async with await sandbox.ws_connect(ws_service.port) as ws:
        await asyncio.gather(*(ws.send(f"m{i}") for i in range(50)))
        got = await asyncio.gather(*(ws.recv() for _ in range(50)))
    assert sorted(got, key=str) == sorted((f"m{i}" for i in range(50)), key=str)
