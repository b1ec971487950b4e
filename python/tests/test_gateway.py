"""A real gateway in front of real Python services: an HTTP server (http.server in a thread)
fetched with httpx, and a WebSocket echo server (`websockets`) reached with the `websockets`
client, both through preview hosts. The gateway's behaviour request by request (forwarding,
headers, refusals) is tests/vectors/gateway.json, run by test_gateway_vectors.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

import portway

from support import EchoServer


@dataclass
class Setup:
    pw: portway.Portway
    gateway: portway.GatewayHandle
    client: httpx.AsyncClient

    async def get(
        self, host: str, path: str = "/", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """GET through the gateway, for the preview host `host`."""
        return await self.client.get(path, headers={"Host": host, **(headers or {})})


def host_of(url: str) -> str:
    return urlsplit(url).netloc


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    config = portway.GatewayConfig(connect_retry_window=0.2, shutdown_timeout=2)
    pw = portway.Portway(domains=["localhost"], gateway=config)
    async with await pw.serve("127.0.0.1:0") as gateway:
        async with httpx.AsyncClient(
            base_url=f"http://{gateway.local_addr}", trust_env=False, follow_redirects=False
        ) as client:
            yield Setup(pw, gateway, client)


async def test_http_through_the_gateway(setup: Setup, http_service: int) -> None:
    """httpx through the gateway to a Python service; what the gateway does to each request
    and its refusals are the cases of tests/vectors/gateway.json (test_gateway_vectors.py)."""
    sb = setup.pw.sandbox("web-box")
    exposed = await sb.expose_port(http_service, f"localhost:{setup.gateway.port}", name="web")
    assert exposed.url.startswith(f"http://{http_service}-web-box-")
    assert exposed.url.endswith(f".localhost:{setup.gateway.port}/")
    host = host_of(exposed.url)

    res = await setup.get(host)
    assert res.status_code == 200
    assert res.text == "hello from the sandbox"

    body = bytes(range(256)) * 1000
    res = await setup.client.post("/echo", content=body, headers={"Host": host})
    assert res.status_code == 200
    assert res.content == body

    await sb.mark_stopped()
    assert (await setup.get(host)).status_code == 410
    await sb.mark_running()
    assert (await setup.get(host)).status_code == 200

    metrics = setup.gateway.metrics()
    assert 'portway_requests_total{status="200"}' in metrics
    assert 'status="410"' in metrics


async def test_websocket_through_the_gateway(setup: Setup, ws_service: EchoServer) -> None:
    sb = setup.pw.sandbox("ws-box")
    exposed = await sb.expose_port(ws_service.port, f"localhost:{setup.gateway.port}")
    uri = "ws" + exposed.url.removeprefix("http")
    # The preview host goes in the URI (and so the Host header); the TCP connection goes to
    # the gateway's address.
    async with websockets.connect(
        uri, host="127.0.0.1", port=setup.gateway.port, proxy=None, subprotocols=["chat"]
    ) as ws:
        assert ws.subprotocol == "chat"
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\x01binary")
        assert await ws.recv() == b"\x00\x01binary"
        await ws.send("host")
        assert await ws.recv() == f"localhost:{ws_service.port}"
        await ws.send("close-me")
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "bye")

    async with websockets.connect(uri, host="127.0.0.1", port=setup.gateway.port, proxy=None) as ws:
        await ws.send("ping")
        assert await ws.recv() == "ping"
        await ws.close(4002, "client done")
    assert (4002, "client done") in ws_service.closes

    # The handshake gets the same refusals as HTTP.
    route = portway.parse_preview_host(host_of(exposed.url))
    assert route is not None
    bad = f"ws://{route.port}-{route.sandbox_id}-wrongtoken1.localhost:{setup.gateway.port}/"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(bad, host="127.0.0.1", port=setup.gateway.port, proxy=None):
            pass
    assert refused.value.response.status_code == 404
    assert "websocket" in setup.gateway.metrics().lower()


async def test_rate_limit_and_access_log_set_from_python_reach_the_gateway(
    tmp_path: Path, http_service: int
) -> None:
    """client_request_rate=1 with client_request_burst=1: the second request is 429
    RATE_LIMITED with Retry-After; access_log names a file that gets a JSON line per request,
    without the token."""
    log = tmp_path / "access.log"
    config = portway.GatewayConfig(
        client_request_rate=1, client_request_burst=1, access_log=str(log)
    )
    assert (config.client_request_rate, config.client_request_burst) == (1, 1)
    pw = portway.Portway(domains=["localhost"], gateway=config)
    async with await pw.serve("127.0.0.1:0") as gateway:
        exposed = await pw.sandbox("rate-box").expose_port(http_service, "localhost")
        host = host_of(exposed.url)
        route = portway.parse_preview_host(host)
        assert route is not None
        async with httpx.AsyncClient(
            base_url=f"http://{gateway.local_addr}", trust_env=False
        ) as client:
            first = await client.get("/", headers={"Host": host})
            second = await client.get("/", headers={"Host": host})
        assert first.status_code == 200
        assert second.status_code == 429
        assert second.headers["retry-after"] == "1"
        assert second.json()["code"] == "RATE_LIMITED"
        assert 'portway_rate_limited_requests_total{limit="client"} 1' in gateway.metrics()
    text = ""
    for _ in range(100):
        text = log.read_text() if log.exists() else ""
        if text.count("\n") >= 2:
            break
        await asyncio.sleep(0.05)
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["status"] for line in lines] == [200, 429]
    assert lines[0]["sandbox"] == "rate-box"
    assert route.token not in text


async def test_file_store_keeps_urls_across_restarts(tmp_path: Path, http_service: int) -> None:
    path = tmp_path / "portway.db"
    first = portway.Portway(store=path)
    exposed = await first.sandbox("kept-box").expose_port(http_service, "localhost", name="web")
    del first

    second = portway.Portway(store=str(path))
    ports = await second.sandbox("kept-box").get_exposed_ports("localhost")
    assert ports == [portway.ExposedPortInfo(http_service, exposed.url, "web", "active")]
    assert second.resolve(host_of(exposed.url)).kind == "upstream"
    async with await second.serve("127.0.0.1:0") as gateway:
        async with httpx.AsyncClient(trust_env=False) as client:
            res = await client.get(
                f"http://{gateway.local_addr}/", headers={"Host": host_of(exposed.url)}
            )
    assert res.text == "hello from the sandbox"


async def test_shutdown_and_close_are_idempotent() -> None:
    pw = portway.Portway()
    gateway = await pw.serve("127.0.0.1:0")
    addr = gateway.local_addr
    await gateway.shutdown(0.5)
    await gateway.close()
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://{addr}/")
