"""The public API: every Python name of tests/api/parity.json exists, every public name has
a docstring, and the records behave like dataclasses."""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import pytest

import portway

from support import REPO

PARITY = json.loads((REPO / "tests" / "api" / "parity.json").read_text())


def test_parity_functions() -> None:
    names = [entry["python"] for entry in PARITY["functions"]]
    assert names, "parity.json lists no functions"
    for name in names:
        assert name in portway.__all__, name
        assert callable(getattr(portway, name)), name


@pytest.mark.parametrize("type_name", sorted(PARITY["types"]))
def test_parity_types(type_name: str) -> None:
    assert type_name in portway.__all__
    cls = getattr(portway, type_name)
    assert isinstance(cls, type)
    members = [entry["python"] for entry in PARITY["types"][type_name]]
    assert members, f"parity.json lists no members of {type_name}"
    missing = [m for m in members if not hasattr(cls, m)]
    assert not missing, f"{type_name} lacks {missing}"


OPTIONS = PARITY["options"]["GatewayConfig"]


def test_gateway_config_has_every_option_with_the_core_default() -> None:
    """Every setting of the core's table is a keyword and an attribute of GatewayConfig, and
    the default reads back as parity.json lists it (durations in seconds)."""
    assert OPTIONS, "parity.json lists no gateway options"
    defaults = portway.GatewayConfig()
    for option in OPTIONS:
        name = option["python"]
        assert getattr(defaults, name) == option["default"], name
    params = inspect.signature(portway.GatewayConfig).parameters
    assert list(params) == [o["python"] for o in OPTIONS]


@pytest.mark.parametrize("option", OPTIONS, ids=[o["python"] for o in OPTIONS])
def test_gateway_option_reaches_the_core(option: dict[str, Any]) -> None:
    """A value given reads back (it reached the core's configuration), and a value of the
    wrong kind or range is INVALID_CONFIG naming the option."""
    given: Any = {
        "bool": not option["default"],
        # A valid value of each text option (forwarded_proto takes "http" or "https").
        "text": {"referrer_policy": "no-referrer"}.get(option["rust"], "https"),
        "count": 9000,
        "duration": 2.5,
        "networks": ["10.0.0.0/8", "fd00::/8"],
    }[option["kind"]]
    # proxy_protocol needs trusted_proxies (the core says so).
    extra = {"trusted_proxies": ["10.0.0.1"]} if option["python"] == "proxy_protocol" else {}
    config = portway.GatewayConfig(**{option["python"]: given}, **extra)
    assert getattr(config, option["python"]) == given
    assert option["python"] in repr(config)
    if option["kind"] == "duration":
        with pytest.raises(portway.InvalidConfigError, match=option["python"]):
            portway.GatewayConfig(**{option["python"]: -1.0})
    if option["kind"] == "networks":
        with pytest.raises(portway.InvalidConfigError, match=option["python"]):
            portway.GatewayConfig(**{option["python"]: ["10.0.0.0/33"]})


OPTION_TYPES = {
    "PortwaySettings": lambda: portway.Portway,
    "WaitSettings": lambda: portway.Sandbox.wait_for_port,
    "WsConnectSettings": lambda: portway.Sandbox.ws_connect,
}


def python_names(option_type: str) -> list[str]:
    """parity.json's Python names of an option type, in order, each once (status_min and
    status_max are the one keyword status=(min, max))."""
    return list(dict.fromkeys(o["python"] for o in PARITY["options"][option_type]))


@pytest.mark.parametrize("option_type", sorted(OPTION_TYPES))
def test_every_option_is_a_keyword(option_type: str) -> None:
    """The keywords of Portway(...), Sandbox.wait_for_port and Sandbox.ws_connect are exactly
    parity.json's names of that option type, in order (the port is not an option)."""
    listed = python_names(option_type)
    assert listed, f"parity.json lists no {option_type}"
    params = inspect.signature(OPTION_TYPES[option_type]()).parameters
    keywords = [
        name
        for name, p in params.items()
        if name not in ("self", "port") and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    assert keywords == listed


def test_a_default_portway_has_the_listed_defaults() -> None:
    """Portway() with no settings: what it shows of its settings (the domains, and the rules
    its validators apply) is parity.json's defaults."""
    defaults = {o["rust"]: o["default"] for o in PARITY["options"]["PortwaySettings"]}
    pw = portway.Portway()
    assert pw.domains == defaults["domains"]
    for port in defaults["reserved_ports"]:
        with pytest.raises(portway.InvalidPortError):
            pw.validate_port(port)
    assert pw.validate_port(8080) == 8080
    for sandbox_id in defaults["reserved_sandbox_ids"]:
        with pytest.raises(portway.InvalidSandboxIdError):
            pw.validate_sandbox_id(sandbox_id)
    for suffix in defaults["custom_domain_suffixes"]:
        with pytest.raises(portway.InvalidConfigError):
            portway.Portway(domains=[f"example.{suffix}"])
    if defaults["normalize_id"]:
        assert pw.validate_sandbox_id("My-Box") == "my-box"
    else:
        with pytest.raises(portway.InvalidSandboxIdError):
            pw.validate_sandbox_id("My-Box")
    shortest = defaults["min_token_length"]
    assert pw.validate_token("a" * shortest) == "a" * shortest
    with pytest.raises(portway.InvalidTokenFormatError):
        pw.validate_token("a" * (shortest - 1))


def test_parity_properties_are_attributes() -> None:
    """parity.json's Python note: these are attributes (properties), not methods."""
    for cls, name in [
        (portway.Sandbox, "id"),
        (portway.Sandbox, "upstream_host"),
        (portway.GatewayHandle, "local_addr"),
        (portway.WebSocket, "protocol"),
        (portway.WebSocket, "close_code"),
        (portway.WebSocket, "close_reason"),
    ]:
        assert inspect.isdatadescriptor(getattr(cls, name)), f"{cls.__name__}.{name}"


def public_members(obj: Any) -> list[tuple[str, Any]]:
    return [
        (name, member)
        for name, member in vars(obj).items()
        if not name.startswith("_") or name in ("__aenter__", "__aexit__")
    ]


def test_every_public_name_has_a_docstring() -> None:
    assert portway.__doc__
    undocumented = []
    for name in portway.__all__:
        obj = getattr(portway, name)
        if name == "__version__":
            continue
        if not (getattr(obj, "__doc__", None) or "").strip():
            undocumented.append(name)
        if isinstance(obj, type) and not issubclass(obj, BaseException):
            for member_name, member in public_members(obj):
                if member_name.startswith("_"):
                    continue
                if not (getattr(member, "__doc__", None) or "").strip():
                    undocumented.append(f"{name}.{member_name}")
    assert not undocumented, f"no docstring: {undocumented}"


def test_version_is_the_workspace_version() -> None:
    cargo = (REPO / "Cargo.toml").read_text()
    match = re.search(r'^version = "([^"]+)"', cargo, re.MULTILINE)
    assert match
    assert portway.__version__ == match.group(1)


def test_records_are_typed_comparable_and_readable() -> None:
    route = portway.parse_preview_host("8080-my-box-token123.example.com")
    assert route == portway.Route(8080, "my-box", "token123")
    assert route != portway.Route(8081, "my-box", "token123")
    assert repr(route) == "Route(port=8080, sandbox_id='my-box', token='token123')"
    assert hash(route) == hash(portway.Route(8080, "my-box", "token123"))
    assert {route, portway.Route(8080, "my-box", "token123")} == {route}
    with pytest.raises(AttributeError):
        route.port = 9000  # type: ignore[misc]

    exposed = portway.ExposedPort(8080, "https://x/", None)
    assert repr(exposed) == "ExposedPort(port=8080, url='https://x/', name=None)"
    info = portway.ExposedPortInfo(8080, "https://x/", "web", "active")
    assert repr(info) == "ExposedPortInfo(port=8080, url='https://x/', name='web', status='active')"
    assert portway.Resolution("denied") == portway.Resolution("denied", None, None, None)
    assert repr(portway.Resolution("stale", "box", 8080)) == (
        "Resolution(kind='stale', sandbox_id='box', port=8080, upstream_host=None)"
    )
    sb = portway.SandboxInfo("box", "127.0.0.1", "running", 2)
    assert sb.exposed_ports == 2
    assert "SandboxInfo(id='box'" in repr(sb)
    assert portway.Route(8080, "a", "b") != "not a route"


async def test_portway_configuration_and_lookups() -> None:
    pw = portway.Portway(
        domains=["Preview.Example.com", "localhost"],
        reserved_ports=[3000, 9000],
        reserved_sandbox_ids=["admin", "secret"],
        custom_domain_suffixes=["workers.dev", "pages.dev"],
        normalize_id=True,
        min_token_length=12,
        gateway=portway.GatewayConfig(idle_timeout=5, rewrite_host=False),
    )
    assert pw.domains == ["preview.example.com", "localhost"]
    assert repr(pw) == "Portway(domains=['preview.example.com', 'localhost'])"
    assert pw.validate_sandbox_id("My-Box") == "my-box"
    with pytest.raises(portway.InvalidSandboxIdError):
        pw.validate_sandbox_id("secret")
    with pytest.raises(portway.InvalidPortError):
        pw.validate_port(9000)
    with pytest.raises(portway.InvalidTokenFormatError):
        pw.validate_token("elevenchars")
    assert pw.validate_token("twelve_chars") == "twelve_chars"
    with pytest.raises(portway.CustomDomainRequiredError):
        pw.build_preview_url(8080, "box", "token123", "x.pages.dev")

    sb = pw.sandbox("My-Box", upstream_host="[::1]")
    assert (sb.id, sb.upstream_host) == ("my-box", "::1")
    assert repr(sb) == "Sandbox(id='my-box', upstream_host='::1')"
    assert pw.get_sandbox("my-box") is None
    exposed = await sb.expose_port(8080, "preview.example.com", token="custom_token")
    assert exposed.url == "https://8080-my-box-custom_token.preview.example.com/"
    assert await sb.is_port_exposed(8080)
    assert await sb.validate_port_token(8080, "custom_token")
    assert not await sb.validate_port_token(8080, "custom_tokex")
    assert pw.get_sandbox("my-box") == portway.SandboxInfo("my-box", "::1", "running", 1)
    assert pw.sandboxes() == [pw.get_sandbox("my-box")]
    host = "8080-my-box-custom_token.preview.example.com"
    assert pw.parse_preview_host(host) == portway.Route(8080, "my-box", "custom_token")
    assert pw.parse_preview_host("8080-my-box-custom_token.other.com") is None
    assert pw.resolve(host) == portway.Resolution("upstream", "my-box", 8080, "::1")
    # Awaitables that give nothing give None (not an empty tuple).
    assert await sb.unexpose_port(8080) is None
    assert await sb.mark_stopped() is None
    assert await sb.mark_running() is None
    assert await sb.destroy() is None


def test_gateway_config_reads_back() -> None:
    config = portway.GatewayConfig(
        forwarded_proto="https", idle_timeout=2.5, max_connections=7, shutdown_timeout=1
    )
    assert config.forwarded_proto == "https"
    assert config.idle_timeout == 2.5
    assert config.max_connections == 7
    assert config.shutdown_timeout == 1.0
    assert config.rewrite_host is True
    assert config == portway.GatewayConfig(
        forwarded_proto="https", idle_timeout=2.5, max_connections=7, shutdown_timeout=1
    )
    assert "idle_timeout=2.5" in repr(config)
    assert portway.GatewayConfig() == portway.GatewayConfig()


def test_referrer_policy_defaults_to_same_origin_and_empty_turns_it_off() -> None:
    assert portway.GatewayConfig().referrer_policy == "same-origin"
    assert portway.GatewayConfig(referrer_policy="").referrer_policy == ""
    both = "no-referrer, strict-origin-when-cross-origin"
    assert portway.GatewayConfig(referrer_policy=both).referrer_policy == both
    for bad in ("unsafe", "same-origin,", "Same-Origin"):
        with pytest.raises(portway.InvalidConfigError, match="referrer_policy"):
            portway.GatewayConfig(referrer_policy=bad)


def test_generated_tokens() -> None:
    tokens = {portway.generate_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(re.fullmatch(r"[a-z0-9]{16}", t) for t in tokens)


def test_the_package_exports_the_whole_native_module() -> None:
    import portway._native as native

    assert sorted(native.__all__) == sorted(portway.__all__)
    for name in native.__all__:
        assert getattr(portway, name) is getattr(native, name)
