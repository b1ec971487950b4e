"""Sandbox lifecycle from Python: activity, idle events, the events stream, and the wake hook
of `serve`, against the fixture service (tests/fixture) on 127.0.0.1, started late by the
hook where a test says so (docs/spec/lifecycle.md)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import datetime
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

import portway

from support import Fixture, fixture_binary, free_port


def host_of(url: str) -> str:
    return urlsplit(url).netloc


def start_fixture_on(port: int) -> subprocess.Popen[bytes]:
    """The fixture service on `port`, once it accepts connections (the sandbox's service
    coming up). Blocking: run it in a thread."""
    process = subprocess.Popen(
        [str(fixture_binary()), "--port", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.decode().startswith("listening 127.0.0.1:"), line
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=10)


class Gateway:
    def __init__(
        self, pw: portway.Portway, gateway: portway.GatewayHandle, client: httpx.AsyncClient
    ) -> None:
        self.pw, self.gateway, self.client = pw, gateway, client

    async def expose(self, sandbox_id: str, port: int) -> str:
        sb = self.pw.sandbox(sandbox_id)
        exposed = await sb.expose_port(port, f"localhost:{self.gateway.port}")
        return host_of(exposed.url)

    async def get(self, host: str, path: str = "/", **headers: str) -> httpx.Response:
        return await self.client.get(path, headers={"Host": host, **headers})


async def gateway_with(wake=None, **config: object) -> tuple[portway.Portway, Gateway]:  # type: ignore[no-untyped-def]
    pw = portway.Portway(domains=["localhost"], gateway=portway.GatewayConfig(**config))  # type: ignore[arg-type]
    handle = await pw.serve("127.0.0.1:0", wake=wake)
    client = httpx.AsyncClient(base_url=f"http://{handle.local_addr}", trust_env=False, timeout=30)
    return pw, Gateway(pw, handle, client)


@pytest.fixture
async def plain() -> AsyncIterator[Gateway]:
    _, g = await gateway_with()
    yield g
    await g.client.aclose()
    await g.gateway.close()


async def next_event(events: portway.EventStream, timeout: float = 5) -> portway.LifecycleEvent:
    event = await asyncio.wait_for(events.next(), timeout)
    assert event is not None
    return event


async def test_activity_counts_requests_bytes_and_websocket_messages(
    plain: Gateway, fixture_service: Fixture
) -> None:
    host = await plain.expose("box", fixture_service.port)
    sb = plain.pw.sandbox("box")
    before = sb.activity()
    assert before == portway.SandboxActivity("box", 0, 0, 0, 0, 0)
    assert before.last_activity_at is None
    r = await plain.client.post("/echo", headers={"Host": host}, content=b"x" * 1000)
    assert r.status_code == 200
    r = await plain.get(host, "/bytes/5000")
    assert len(r.content) == 5000
    a = sb.activity()
    assert (a.requests, a.open_connections, a.websocket_sessions) == (2, 0, 0)
    assert a.bytes_received >= 1000 and a.bytes_sent >= 5000
    assert a.last_activity_at is not None
    at = datetime.fromisoformat(a.last_activity_at.replace("Z", "+00:00"))
    assert abs(time.time() - at.timestamp()) < 60
    ports = sb.port_activity()
    assert [p.port for p in ports] == [fixture_service.port]
    assert ports[0].requests == 2 and ports[0].bytes_sent == a.bytes_sent

    uri = f"ws://{host}/ws"
    async with websockets.connect(uri, host="127.0.0.1", port=plain.gateway.port, proxy=None) as ws:
        for _ in range(250):
            opened = sb.activity()
            if opened.websocket_sessions == 1:
                break
            await asyncio.sleep(0.02)
        assert (opened.websocket_sessions, opened.open_connections) == (1, 1)
        await ws.send("hello")
        assert await ws.recv() == "hello"
        after = sb.activity()
        assert after.bytes_received > opened.bytes_received
        assert after.bytes_sent > opened.bytes_sent
    for _ in range(100):
        if sb.activity().websocket_sessions == 0:
            break
        await asyncio.sleep(0.02)
    assert sb.activity().websocket_sessions == 0


async def test_the_registry_s_changes_are_events_and_close_ends_the_stream() -> None:
    pw = portway.Portway(domains=["localhost"])
    events = pw.events()
    sb = pw.sandbox("box")
    await sb.expose_port(4000, "localhost")
    await sb.mark_stopped()
    await sb.mark_running()
    await sb.unexpose_port(4000)
    await sb.destroy()
    seen = []
    async for event in events:
        assert event.sandbox_id == "box"
        assert event.time.endswith("Z")
        seen.append((event.kind, event.port))
        if event.kind == "destroyed":
            events.close()
    assert seen == [
        ("exposed", 4000),
        ("stopped", None),
        ("running", None),
        ("unexposed", 4000),
        ("destroyed", None),
    ]
    assert events.closed
    assert await events.next() is None


async def test_idle_fires_once_and_again_only_after_new_traffic(
    fixture_service: Fixture,
) -> None:
    pw, g = await gateway_with(idle_after=0.3)
    try:
        host = await g.expose("box", fixture_service.port)
        with pw.events() as events:
            start = time.monotonic()
            e = await next_event(events)
            assert (e.kind, e.sandbox_id) == ("idle", "box")
            assert time.monotonic() - start >= 0.2
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(events.next(), 0.7)
            assert (await g.get(host)).status_code == 200
            e = await next_event(events)
            assert e.kind == "idle"
    finally:
        await g.client.aclose()
        await g.gateway.close()


async def test_a_sandbox_s_own_idle_after() -> None:
    pw = portway.Portway(domains=["localhost"])
    sb = pw.sandbox("box")
    assert sb.idle_after() is None
    sb.set_idle_after(0.2)
    assert sb.idle_after() == pytest.approx(0.2)
    events = pw.events()
    await sb.expose_port(4000, "localhost")
    assert (await next_event(events)).kind == "exposed"
    assert (await next_event(events)).kind == "idle"
    sb.set_idle_after(None)
    assert sb.idle_after() is None
    with pytest.raises(portway.InvalidArgumentError):
        sb.set_idle_after(-1)
    events.close()


async def test_twenty_requests_to_a_stopped_sandbox_wake_it_once() -> None:
    port = free_port()
    calls: list[portway.WakeRequest] = []
    started: list[subprocess.Popen[bytes]] = []

    async def wake(request: portway.WakeRequest) -> None:
        calls.append(request)
        if len(calls) > 1:
            return  # the service still runs: only the sandbox was marked stopped

        async def later() -> None:
            await asyncio.sleep(0.3)
            started.append(await asyncio.to_thread(start_fixture_on, port))

        asyncio.get_running_loop().create_task(later())

    pw, g = await gateway_with(wake=wake)
    try:
        host = await g.expose("box", port)
        sb = pw.sandbox("box")
        await sb.mark_stopped()
        statuses = await asyncio.gather(*(g.get(host, "/status/200") for _ in range(20)))
        assert [r.status_code for r in statuses] == [200] * 20
        assert calls == [portway.WakeRequest("box", port)]
        info = pw.get_sandbox("box")
        assert info is not None and info.status == "running"
        # A WebSocket handshake wakes it too.
        await sb.mark_stopped()
        uri = f"ws://{host}/ws"
        async with websockets.connect(uri, host="127.0.0.1", port=g.gateway.port, proxy=None) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
        assert len(calls) == 2
    finally:
        await g.client.aclose()
        await g.gateway.close()
        for p in started:
            stop(p)


async def test_a_failing_or_refusing_hook_is_503_with_its_reason() -> None:
    async def fail(request: portway.WakeRequest) -> None:
        raise RuntimeError(f"no capacity for {request.sandbox_id}")

    async def refuse(request: portway.WakeRequest) -> bool:
        return False

    for hook, reason in [(fail, "no capacity for box"), (refuse, "the wake hook refused")]:
        pw, g = await gateway_with(wake=hook)
        try:
            host = await g.expose("box", free_port())
            await pw.sandbox("box").mark_stopped()
            r = await g.get(host)
            assert r.status_code == 503
            assert r.json()["code"] == "SANDBOX_WAKE_FAILED"
            assert r.json()["reason"] == reason
        finally:
            await g.client.aclose()
            await g.gateway.close()


async def test_a_hook_that_never_answers_times_out_and_a_browser_gets_the_starting_page() -> None:
    async def hang(request: portway.WakeRequest) -> None:
        await asyncio.Event().wait()

    pw, g = await gateway_with(wake=hang, wake_timeout=0.5, wake_page_after=0.2)
    try:
        host = await g.expose("box", free_port())
        await pw.sandbox("box").mark_stopped()
        r = await g.get(host)
        assert r.status_code == 504
        assert r.json()["code"] == "SANDBOX_WAKE_TIMEOUT"
        page = await g.get(host, accept="text/html")
        assert page.status_code == 503
        assert page.headers["retry-after"] == "2"
        assert 'http-equiv="refresh"' in page.text
        assert "SANDBOX_STARTING" in page.text
    finally:
        await g.client.aclose()
        await g.gateway.close()


async def test_a_wake_hook_must_be_async() -> None:
    pw = portway.Portway(domains=["localhost"])

    def not_async(request: portway.WakeRequest) -> None:
        pass

    with pytest.raises(TypeError, match="async"):
        await pw.serve("127.0.0.1:0", wake=not_async)


def test_the_lifecycle_options_read_back_with_their_defaults() -> None:
    config = portway.GatewayConfig()
    assert (config.idle_after, config.websockets_keep_active) == (0.0, False)
    assert (config.wake_timeout, config.wake_page_after) == (60.0, 3.0)
    config = portway.GatewayConfig(idle_after=900, wake_timeout=30)
    assert (config.idle_after, config.wake_timeout) == (900.0, 30.0)
    with pytest.raises(portway.InvalidConfigError, match="wake_timeout"):
        portway.GatewayConfig(wake_timeout=0)
