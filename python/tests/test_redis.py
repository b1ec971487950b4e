"""The Redis store from Python, against a real redis-server of each test's own (the
`redis_server` fixture): two Portway objects on one Redis URL share one registry (an exposure
made through one is seen and routed by the other's gateway, an unexpose too), concurrent
writers from both keep one token per port, and a Redis that goes away fails writes with
StoreError while the gateway keeps routing what it holds."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

import portway

from support import RedisServer, free_port


def host_of(url: str) -> str:
    return urlsplit(url).netloc


def token_of(url: str) -> str:
    route = portway.parse_preview_host(host_of(url))
    assert route is not None, url
    return route.token


async def within(predicate: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Whether `predicate` holds within `seconds` (polled every few milliseconds)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.005)
    return predicate()


async def get(gateway: portway.GatewayHandle, host: str) -> httpx.Response:
    """GET / through `gateway` for the preview host `host`."""
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.get(f"http://{gateway.local_addr}/", headers={"Host": host})


async def test_an_exposure_through_one_is_routed_by_the_other(
    redis_server: RedisServer, http_service: int
) -> None:
    writer = portway.Portway(domains=["localhost"], store=redis_server.url)
    reader = portway.Portway(domains=["localhost"], store=redis_server.url)
    async with await reader.serve("127.0.0.1:0") as gateway:
        sb = writer.sandbox("shared-box")
        exposed = await sb.expose_port(http_service, f"localhost:{gateway.port}", name="web")
        host = host_of(exposed.url)

        assert await within(lambda: reader.resolve(host).kind == "upstream"), (
            "the other Portway never routed the exposure"
        )
        resolution = reader.resolve(host)
        assert (resolution.sandbox_id, resolution.port) == ("shared-box", http_service)
        assert reader.get_sandbox("shared-box") == portway.SandboxInfo(
            "shared-box", "127.0.0.1", "running", 1
        )
        listed = await reader.sandbox("shared-box").get_exposed_ports(f"localhost:{gateway.port}")
        assert listed == [portway.ExposedPortInfo(http_service, exposed.url, "web", "active")]
        res = await get(gateway, host)
        assert res.status_code == 200
        assert res.text == "hello from the sandbox"

        # Stopped through one: the other's gateway answers 410; running again: 200.
        await sb.mark_stopped()
        assert await within(lambda: reader.resolve(host).kind == "stale")
        assert (await get(gateway, host)).status_code == 410
        await sb.mark_running()
        assert await within(lambda: reader.resolve(host).kind == "upstream")
        assert (await get(gateway, host)).status_code == 200

        # Unexposed through one: gone from the other, whose gateway then answers 404.
        await sb.unexpose_port(http_service)
        assert await within(lambda: reader.resolve(host).kind == "denied"), "still routed"
        info = reader.get_sandbox("shared-box")
        assert info is not None and info.exposed_ports == 0
        assert not await reader.sandbox("shared-box").is_port_exposed(http_service)
        assert (await get(gateway, host)).status_code == 404

        # Destroyed through one: the other no longer knows the sandbox.
        await sb.destroy()
        assert await within(lambda: reader.get_sandbox("shared-box") is None)


async def test_the_other_way_round_and_a_third_portway_loads_it(
    redis_server: RedisServer,
) -> None:
    """Writes go both ways, and a Portway made later loads everything already in Redis."""
    a = portway.Portway(store=redis_server.url)
    b = portway.Portway(store=redis_server.url)
    from_a = await a.sandbox("from-a").expose_port(8080, "localhost")
    from_b = await b.sandbox("from-b").expose_port(8080, "localhost")
    assert await within(lambda: b.resolve(host_of(from_a.url)).kind == "upstream")
    assert await within(lambda: a.resolve(host_of(from_b.url)).kind == "upstream")
    later = portway.Portway(store=redis_server.url)
    assert [s.id for s in later.sandboxes()] == ["from-a", "from-b"]
    assert later.resolve(host_of(from_a.url)).kind == "upstream"
    assert later.resolve(host_of(from_b.url)).kind == "upstream"


async def test_concurrent_writers_keep_one_token_per_port(redis_server: RedisServer) -> None:
    a = portway.Portway(store=redis_server.url)
    b = portway.Portway(store=redis_server.url)
    ports = list(range(20000, 20030))
    sa, sb = a.sandbox("busy"), b.sandbox("busy")
    # Each port exposed by both at once, every call in flight together.
    calls = [s.expose_port(p, "localhost") for p in ports for s in (sa, sb)]
    results = await asyncio.gather(*calls)

    tokens: dict[int, str] = {}
    for exposed in results:
        token = token_of(exposed.url)
        before = tokens.setdefault(exposed.port, token)
        assert before == token, f"port {exposed.port} got two tokens: {before} and {token}"
    assert sorted(tokens) == ports
    assert len(set(tokens.values())) == len(ports), "a token was given to two ports"

    # All stored: a fresh Portway lists every port with the token it was given.
    fresh = portway.Portway(store=redis_server.url)
    listed = await fresh.sandbox("busy").get_exposed_ports("localhost")
    assert {info.port: token_of(info.url) for info in listed} == tokens

    # And both writers' copies catch up with all of it.
    def holds_all(p: portway.Portway) -> bool:
        info = p.get_sandbox("busy")
        return info is not None and info.exposed_ports == len(ports)

    for p in (a, b):
        assert await within(lambda p=p: holds_all(p)), "a writer's copy never caught up"


async def test_redis_gone_fails_writes_and_the_gateway_keeps_routing(
    redis_server: RedisServer, http_service: int
) -> None:
    pw = portway.Portway(store=redis_server.url)
    async with await pw.serve("127.0.0.1:0") as gateway:
        sb = pw.sandbox("kept-box")
        exposed = await sb.expose_port(http_service, "localhost")
        host = host_of(exposed.url)
        assert (await get(gateway, host)).status_code == 200

        redis_server.kill()
        for _ in range(5):
            assert (await get(gateway, host)).status_code == 200
        with pytest.raises(portway.StoreError) as info:
            await sb.expose_port(http_service + 1, "localhost")
        assert info.value.code == "STORE_ERROR"
        assert "unreachable" in str(info.value), str(info.value)
        assert isinstance(info.value, portway.PortwayError)
        # Nothing half-done: the failed exposure is not there, the old one still routes.
        assert not await sb.is_port_exposed(http_service + 1)
        res = await get(gateway, host)
        assert res.status_code == 200
        assert res.text == "hello from the sandbox"


def test_an_unreachable_redis_at_construction_is_a_store_error() -> None:
    port = free_port()
    with pytest.raises(portway.StoreError) as info:
        portway.Portway(store=f"redis://127.0.0.1:{port}/0")
    assert info.value.code == "STORE_ERROR"
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message, message
    assert "unreachable" in message, message


EXIT_SCRIPT = """
import asyncio, os, portway

async def main():
    pw = portway.Portway(store=os.environ["STORE"])
    sandbox = pw.sandbox("exits", upstream_host="127.0.0.1")
    for port in range(int(os.environ["BASE"]), int(os.environ["BASE"]) + 20):
        await sandbox.expose_port(port, hostname="localhost")

asyncio.run(main())
"""


def test_a_program_that_exits_right_after_its_writes_exits_cleanly(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """The last awaitable's runtime thread may still hold on to the event loop when the
    program exits; it must never crash the interpreter (it did in about one exit in six,
    with SIGSEGV, before portway's atexit hook let those threads finish)."""
    for run in range(24):
        env = {**os.environ, "STORE": redis_server.url, "BASE": str(20000 + run * 20)}
        done = subprocess.run(
            [sys.executable, "-c", EXIT_SCRIPT],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, f"run {run}: exit {done.returncode}\n{done.stderr.decode()}"
