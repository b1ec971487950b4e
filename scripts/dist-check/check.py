"""What a Python user does with the installed wheel: expose the fixture service's port,
serve the gateway, fetch through it, and send a WebSocket message through it. Run by
scripts/dist-check.sh in a fresh virtual environment with no Rust reachable; the fixture's
port comes in FIXTURE_PORT."""

import asyncio
import base64
import json
import os
import sys

import portway


async def http_get(port: int, host: str, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def ws_roundtrip(port: int, host: str, text: str) -> str:
    """One text message over a WebSocket through the gateway (RFC 6455 by hand: the
    check installs nothing but the wheel)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nhost: {host}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
            f"sec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    await writer.drain()
    first, second = await reader.readexactly(2)
    assert first == 0x81 and second < 126, (first, second)
    reply = (await reader.readexactly(second)).decode()
    writer.close()
    return reply


async def main() -> None:
    fixture = int(os.environ["FIXTURE_PORT"])
    pw = portway.Portway(domains=["localhost"])
    async with await pw.serve("127.0.0.1:0") as gateway:
        sandbox = pw.sandbox("dist-check", upstream_host="127.0.0.1")
        await sandbox.wait_for_port(fixture, mode="tcp")
        exposed = await sandbox.expose_port(fixture, hostname=f"localhost:{gateway.port}")
        host = exposed.url.split("//", 1)[1].rstrip("/")
        status, body = await http_get(gateway.port, host, "/echo?from=python")
        assert status == 200, (status, body)
        seen = json.loads(body)
        assert seen["path"] == "/echo?from=python", seen
        reply = await ws_roundtrip(gateway.port, host, "hello from the wheel")
        assert "hello from the wheel" in reply, reply
        print(f"python: {portway.__name__} from {os.path.dirname(portway.__file__)}")
        print(f"python: GET through {exposed.url} -> {status}; WebSocket reply {reply!r}")


asyncio.run(main())
sys.exit(0)
