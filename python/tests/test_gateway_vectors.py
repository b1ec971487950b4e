"""Runs every case of tests/vectors/gateway.json (the format is in tests/vectors/README.md,
section "Gateway") through the Python binding: a fresh Portway and its gateway per case, in
front of the fixture service (tests/fixture), each request written as raw HTTP/1.1 bytes on
an asyncio connection, so that no client library normalises the Host or the headers."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest

import portway

from support import VECTORS, VECTORS_RUN, Fixture, free_port
from vectors import CONFIG_KEYS, load

CASES = load(VECTORS / "gateway.json")


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def values(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


class Vars:
    def __init__(self, fixture: int, closed: int, gateway: int) -> None:
        self.values = {"fixture": fixture, "closed": closed, "gateway": gateway}

    def subst(self, text: str) -> str:
        for name, value in self.values.items():
            text = text.replace(f"{{{name}}}", str(value))
        return text


def request_bytes(req: dict[str, Any], vars: Vars) -> bytes:
    head = f"{req['method']} {vars.subst(req['target'])} HTTP/1.1\r\n"
    if "host" in req:
        head += f"host: {vars.subst(req['host'])}\r\n"
    framed = False
    for name, value in req.get("headers", []):
        framed |= name.lower() in ("content-length", "transfer-encoding")
        head += f"{name}: {vars.subst(value)}\r\n"
    body = req.get("body", "").encode()
    if "body" in req and not framed:
        head += f"content-length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


async def read_reply(reader: asyncio.StreamReader, head_request: bool) -> Reply:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    lines = head.removesuffix("\r\n\r\n").split("\r\n")
    status = int(lines[0][9:12])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.lower(), value.strip()))
    reply = Reply(status, headers, b"")
    if head_request or status < 200 or status in (204, 304):
        return reply
    if reply.values("transfer-encoding") == ["chunked"]:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break  # no trailers in these cases
            body += chunk[:-2]
        reply.body = body
    elif lengths := reply.values("content-length"):
        reply.body = await reader.readexactly(int(lengths[0]))
    else:
        reply.body = await reader.read()
    return reply


def portway_for_case(case: dict[str, Any]) -> portway.Portway:
    """The case's Portway: its `config`, and its `gateway` options (Python's names are the
    core's, durations in seconds, as in the vectors)."""
    config = case.get("config", {})
    unknown = set(config) - CONFIG_KEYS
    assert not unknown, f"unknown config keys {unknown}"
    return portway.Portway(**config, gateway=portway.GatewayConfig(**case.get("gateway", {})))


async def set_up(pw: portway.Portway, case: dict[str, Any], vars: Vars) -> None:
    domain = case.get("config", {}).get("domains", ["localhost"])[0]
    for sb in case.get("sandboxes", []):
        handle = pw.sandbox(sb["id"], "127.0.0.1")
        for p in sb["ports"]:
            port = vars.values[p["port"]]
            await handle.expose_port(port, domain, token=p["token"])
        status = sb.get("status", "running")
        if status == "stopped":
            await handle.mark_stopped()
        elif status == "destroyed":
            await handle.destroy()
        else:
            assert status == "running", f"unknown status {status}"


def check_headers(
    ctx: str, values: Any, want: dict[str, Any], absent: list[str], vars: Vars
) -> None:
    for name, value in want.items():
        expected = [vars.subst(value)] if isinstance(value, str) else [vars.subst(v) for v in value]
        assert values(name) == expected, f"{ctx}: header {name}"
    for name in absent:
        assert values(name) == [], f"{ctx}: {name} is present: {values(name)}"


def check(ctx: str, expect: dict[str, Any], reply: Reply, vars: Vars) -> None:
    text = reply.body.decode(errors="replace")
    assert reply.status == expect["status"], f"{ctx}: status ({reply.headers} {text})"
    check_headers(
        ctx, reply.values, expect.get("headers", {}), expect.get("headers_absent", []), vars
    )
    if "code" in expect:
        body = json.loads(reply.body)
        assert body["code"] == expect["code"], f"{ctx}: code in {text}"
        if "message" in expect:
            assert body["error"] == expect["message"], f"{ctx}: message in {text}"
    if "body" in expect:
        assert text == vars.subst(expect["body"]), f"{ctx}: body"
    for part in expect.get("body_contains", []):
        assert vars.subst(part) in text, f"{ctx}: body lacks {part!r}: {text}"
    if "body_len" in expect:
        assert len(reply.body) == expect["body_len"], f"{ctx}: body length"
    if (want := expect.get("sandbox")) is not None:
        saw = json.loads(reply.body)
        for key in ("method", "path", "body"):
            if key in want:
                assert saw[key] == vars.subst(want[key]), f"{ctx}: the sandbox's {key}"
        seen = [(n, v) for n, v in saw["headers"]]

        def values(name: str) -> list[str]:
            return [v for n, v in seen if n.lower() == name.lower()]

        sctx = f"{ctx}: the sandbox's headers {seen}"
        check_headers(sctx, values, want.get("headers", {}), want.get("headers_absent", []), vars)
        if "header_list" in want:
            # A null value: the header is there, with any value (a random hop marker).
            exact = [
                (n, seen[i][1] if v is None and i < len(seen) else vars.subst(v))
                for i, (n, v) in enumerate(want["header_list"])
            ]
            assert seen == exact, f"{sctx}: the sandbox's header list"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
async def test_gateway_vector(case: dict[str, Any], fixture_service: Fixture) -> None:
    ctx = f"gateway.json {case['name']}"
    pw = portway_for_case(case)
    async with await pw.serve("127.0.0.1:0") as gateway:
        vars = Vars(fixture_service.port, free_port(), gateway.port)
        await set_up(pw, case, vars)
        req = case["request"]
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        try:
            writer.write(request_bytes(req, vars))
            await writer.drain()
            reply = await asyncio.wait_for(read_reply(reader, req["method"] == "HEAD"), 10)
        finally:
            writer.close()
        check(ctx, case["expect"], reply, vars)
    VECTORS_RUN["gateway.json"] += 1
