"""Errors: one PortwayError subclass per code of tests/vectors/errors.json, exactly, and every
code Python can meet raised for real, checked by class and by `.code`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import portway

from support import VECTORS, free_port

# Codes the Python API cannot raise, and why. Everything else in errors.json has a trigger.
UNREACHABLE = {
    "SANDBOX_NOT_FOUND": "the core raises it nowhere yet (only the admin API maps it to 404)",
}


def listed_codes() -> list[str]:
    doc = json.loads((VECTORS / "errors.json").read_text())
    codes = [c["code"] for c in doc["codes"]]
    assert codes, "errors.json lists no codes"
    return codes


def class_name(code: str) -> str:
    """INVALID_PORT -> InvalidPortError; STORE_ERROR -> StoreError."""
    camel = "".join(word.capitalize() for word in code.split("_"))
    return camel if camel.endswith("Error") else camel + "Error"


def error_classes() -> dict[str, type[portway.PortwayError]]:
    out = {}
    for name in portway.__all__:
        obj = getattr(portway, name)
        if isinstance(obj, type) and issubclass(obj, portway.PortwayError):
            if obj is not portway.PortwayError:
                out[obj.code] = obj
    return out


def test_one_class_per_listed_code_exactly() -> None:
    codes = listed_codes()
    classes = error_classes()
    assert sorted(classes) == sorted(codes), "the error classes and errors.json differ"
    for code in codes:
        cls = classes[code]
        assert cls.__name__ == class_name(code)
        assert cls.__bases__ == (portway.PortwayError,)
        assert cls.__module__ == "portway"
        assert cls.__doc__ and code in cls.__doc__
    assert issubclass(portway.PortwayError, Exception)


def test_unreachable_codes_are_listed_codes() -> None:
    assert set(UNREACHABLE) <= set(listed_codes())


class Services:
    """Real services some triggers need."""

    def __init__(self, http_port: int, ws_port: int, tmp_path: Path) -> None:
        self.http_port = http_port
        self.ws_port = ws_port
        self.tmp_path = tmp_path
        self.portway = portway.Portway(domains=["localhost"])
        self.sandbox = self.portway.sandbox("errors-box")


async def long_label(s: Services) -> None:
    sb = s.portway.sandbox("a" * 63)
    await sb.expose_port(8080, "localhost")


async def token_in_use(s: Services) -> None:
    await s.sandbox.expose_port(8080, "localhost", token="shared_token")
    await s.sandbox.expose_port(8081, "localhost", token="shared_token")


async def store_error(s: Services) -> None:
    path = s.tmp_path / "not-a-database.db"
    path.write_bytes(b"this is not an SQLite file" * 100)
    portway.Portway(store=path)


async def gateway_error(s: Services) -> None:
    gateway = await s.portway.serve("127.0.0.1:0")
    try:
        await s.portway.serve(gateway.local_addr)  # already in use
    finally:
        await gateway.close()


async def ws_refused(s: Services) -> None:
    await s.sandbox.ws_connect(s.http_port, path="/missing")


async def ws_closed(s: Services) -> None:
    ws = await s.sandbox.ws_connect(s.ws_port)
    await ws.close()
    await ws.send("too late")


async def ws_error(s: Services) -> None:
    ws = await s.sandbox.ws_connect(s.ws_port, max_message_size=16)
    try:
        await ws.send("x" * 17)
    finally:
        await ws.close()


async def own_listener(s: Services) -> None:
    gateway = await s.portway.serve("127.0.0.1:0")
    try:
        await s.sandbox.expose_port(gateway.port, "localhost")
    finally:
        await gateway.close()


async def sync(f: Callable[[], object]) -> None:
    f()


TRIGGERS: dict[str, list[Callable[[Services], Awaitable[None]]]] = {
    "INVALID_PORT": [
        lambda s: sync(lambda: portway.validate_port(80)),
        lambda s: s.sandbox.expose_port(3000, "localhost"),
    ],
    "INVALID_SANDBOX_ID": [
        lambda s: sync(lambda: s.portway.sandbox("-box")),
        lambda s: sync(lambda: portway.validate_sandbox_id("My-Box")),
    ],
    "INVALID_HOSTNAME": [
        lambda s: sync(lambda: portway.build_preview_url(8080, "box", "token123", "http://x.com")),
    ],
    "CUSTOM_DOMAIN_REQUIRED": [
        lambda s: sync(lambda: portway.build_preview_url(8080, "box", "token123", "a.workers.dev")),
    ],
    "PREVIEW_LABEL_TOO_LONG": [long_label],
    "INVALID_TOKEN_FORMAT": [
        lambda s: sync(lambda: portway.validate_token("short")),
        lambda s: s.sandbox.expose_port(8080, "localhost", token="UPPERCASE1"),
    ],
    "TOKEN_IN_USE": [token_in_use],
    "PORT_WAIT_TIMEOUT": [
        lambda s: s.sandbox.wait_for_port(free_port(), mode="tcp", timeout=0.3, interval=0.05),
    ],
    "WS_CONNECT_FAILED": [ws_refused, lambda s: s.sandbox.ws_connect(free_port())],
    "STORE_ERROR": [store_error],
    "GATEWAY_ERROR": [gateway_error, lambda s: s.portway.serve("not an address")],
    "DOMAIN_NOT_CONFIGURED": [lambda s: s.sandbox.expose_port(8080, "example.com")],
    "INVALID_PORT_NAME": [lambda s: s.sandbox.expose_port(8080, "localhost", name="")],
    "INVALID_UPSTREAM_HOST": [lambda s: sync(lambda: s.portway.sandbox("box", "10.0.0.7:80"))],
    "INVALID_CONFIG": [
        lambda s: sync(lambda: portway.Portway(min_token_length=17)),
        lambda s: sync(lambda: portway.Portway(domains=[])),
        lambda s: sync(lambda: portway.GatewayConfig(max_head_size=100)),
        lambda s: sync(lambda: portway.GatewayConfig(idle_timeout=-1)),
    ],
    "INVALID_ARGUMENT": [
        lambda s: s.sandbox.wait_for_port(8080, path="health"),
        lambda s: s.sandbox.wait_for_port(8080, status=(500, 200)),
        lambda s: s.sandbox.wait_for_port(8080, mode="udp"),
        lambda s: s.sandbox.ws_connect(8080, path="no-slash"),
    ],
    "WS_CLOSED": [ws_closed],
    "WS_ERROR": [ws_error],
    "UPSTREAM_FORBIDDEN": [
        lambda s: sync(lambda: s.portway.sandbox("box", "169.254.169.254")),
        lambda s: sync(
            lambda: portway.Portway(
                gateway=portway.GatewayConfig(upstream_deny=["10.0.0.0/8"])
            ).sandbox("box", "10.0.0.7")
        ),
        own_listener,
    ],
}


def test_every_listed_code_is_triggered_or_explained() -> None:
    assert set(TRIGGERS) | set(UNREACHABLE) == set(listed_codes())
    assert not set(TRIGGERS) & set(UNREACHABLE)


@pytest.mark.parametrize("code", sorted(TRIGGERS))
async def test_code_is_raised_with_its_class(
    code: str, http_service: int, ws_service: object, tmp_path: Path
) -> None:
    services = Services(http_service, ws_service.port, tmp_path)  # type: ignore[attr-defined]
    cls = error_classes()[code]
    for i, trigger in enumerate(TRIGGERS[code]):
        with pytest.raises(portway.PortwayError) as info:
            await asyncio.wait_for(trigger(services), timeout=20)
        err = info.value
        assert type(err) is cls, f"trigger {i}: {type(err).__name__}, not {cls.__name__}: {err}"
        assert isinstance(err, portway.PortwayError)
        assert err.code == code, f"trigger {i}: {err.code}"
        assert str(err), f"trigger {i}: empty message"


async def test_ws_connect_failed_carries_the_http_status(http_service: int) -> None:
    sb = portway.Portway().sandbox("status-box")
    with pytest.raises(portway.WsConnectFailedError) as info:
        await sb.ws_connect(http_service, path="/missing")
    assert info.value.status == 404
    assert "404" in str(info.value)
    with pytest.raises(portway.WsConnectFailedError) as info:
        await sb.ws_connect(free_port())
    assert info.value.status is None


BAD_PORTS = [0, 80, 1023, 3000, 65536, -1, 73616, -57456, 2**64, 2**100, -(2**80)]
NOT_PORTS = [True, False, None, 8080.5, 8080.0, float("nan"), "8080", b"8080", [8080], {}]


@pytest.mark.parametrize("port", BAD_PORTS + NOT_PORTS, ids=repr)
async def test_any_bad_port_is_invalid_port_everywhere(port: object) -> None:
    """Out of range, negative, huge, or not an int at all: INVALID_PORT from every call that
    takes a port, never TypeError or OverflowError; the two boolean checks give False."""
    pw = portway.Portway()
    sb = pw.sandbox("port-box")
    calls: list[Callable[[], object]] = [
        lambda: portway.validate_port(port),
        lambda: pw.validate_port(port),
        lambda: portway.build_preview_url(port, "box", "token123", "localhost"),
        lambda: pw.build_preview_url(port, "box", "token123", "localhost"),
    ]
    for call in calls:
        with pytest.raises(portway.InvalidPortError) as info:
            call()
        assert info.value.code == "INVALID_PORT"
        assert str(info.value).startswith("Invalid port number: ")
    awaitables = [
        lambda: sb.expose_port(port, "localhost"),
        lambda: sb.unexpose_port(port),
        lambda: sb.wait_for_port(port, timeout=0.1),
        lambda: sb.ws_connect(port),
    ]
    for make in awaitables:
        with pytest.raises(portway.InvalidPortError):
            await make()
    assert await sb.is_port_exposed(port) is False
    assert await sb.validate_port_token(port, "token123") is False


def test_invalid_port_message_follows_the_configured_reserved_ports() -> None:
    pw = portway.Portway(reserved_ports=[9000, 3000])
    with pytest.raises(portway.InvalidPortError) as info:
        pw.validate_port("9000")
    assert str(info.value) == (
        "Invalid port number: '9000'. Must be 1024-65535, excluding 3000, 9000 (reserved)."
    )


async def test_an_int_like_object_is_a_port() -> None:
    class Index:
        def __index__(self) -> int:
            return 8080

    assert portway.validate_port(Index()) == 8080


async def test_wrong_argument_types_are_type_errors(ws_service: object) -> None:
    pw = portway.Portway()
    sb = pw.sandbox("types-box")
    sync_calls: list[Callable[[], object]] = [
        lambda: pw.sandbox(None),  # type: ignore[arg-type]
        lambda: pw.sandbox("box", 127),  # type: ignore[arg-type]
        lambda: portway.Portway(domains="localhost"),
        lambda: portway.Portway(normalize_id="yes"),  # type: ignore[arg-type]
        lambda: portway.Portway(gateway={"idle_timeout": 5}),  # type: ignore[arg-type]
        lambda: portway.build_preview_url(8080, None, "token123", "localhost"),  # type: ignore[arg-type]
        lambda: portway.validate_token(12345678),  # type: ignore[arg-type]
        lambda: portway.parse_preview_host(None),  # type: ignore[arg-type]
        lambda: pw.resolve(b"host"),  # type: ignore[arg-type]
        lambda: sb.expose_port(8080, None),  # type: ignore[arg-type]
        lambda: sb.expose_port(8080, "localhost", name=5),  # type: ignore[arg-type]
        lambda: sb.get_exposed_ports(None),  # type: ignore[arg-type]
        lambda: sb.wait_for_port(8080, timeout="soon"),  # type: ignore[arg-type]
        lambda: sb.ws_connect(8080, headers=5),  # type: ignore[arg-type]
        lambda: portway.GatewayConfig(idle_timeout="5"),  # type: ignore[arg-type]
    ]
    for i, call in enumerate(sync_calls):
        with pytest.raises(TypeError):
            call()
            pytest.fail(f"call {i} raised nothing")
    ws = await sb.ws_connect(ws_service.port)  # type: ignore[attr-defined]
    async with ws:
        with pytest.raises(TypeError):
            await ws.send(12)  # type: ignore[arg-type]
