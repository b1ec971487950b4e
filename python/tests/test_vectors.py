"""Runs every case of every file in tests/vectors (read from the repository, never copied)
against the Python API, with the runner semantics of tests/vectors/README.md. dynamic_only
cases run too: Python can pass any value where a port goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import portway

from support import VECTORS, VECTORS_RUN
from vectors import (
    Vars,
    check,
    load,
    portway_for,
    resolution_json,
    route_json,
)

# errors.json is not a list of cases: test_errors.py checks it. gateway.json has its own
# runner, test_gateway_vectors.py.
RUNNERS = ["ports", "sandbox_ids", "tokens", "preview_urls", "preview_hosts", "flows", "gateway"]


def vector_files() -> list[Path]:
    return sorted(p for p in VECTORS.glob("*.json") if p.name != "errors.json")


def test_every_vector_file_has_a_runner_and_cases() -> None:
    names = {p.stem for p in vector_files()}
    missing = set(RUNNERS) - names
    assert not missing, f"vector files missing from {VECTORS}: {sorted(missing)}"
    unknown = names - set(RUNNERS)
    assert not unknown, f"no Python runner for {sorted(unknown)}"
    for path in vector_files():
        assert load(path), f"{path.name} has no cases"


def params() -> list[Any]:
    out = []
    for path in vector_files():
        if path.name == "gateway.json":
            continue
        try:
            cases = load(path)
        except (AssertionError, ValueError):
            # A file that cannot be read, or has no cases, is a failing test, not a skip.
            out.append(pytest.param(path, None, id=f"{path.stem}:unreadable"))
            continue
        for case in cases:
            out.append(pytest.param(path, case, id=f"{path.stem}:{case.get('name', '?')}"))
    return out


async def run_simple(file: str, case: dict[str, Any], ctx: str) -> None:
    inp = case["input"]
    config = case.get("config")
    pw = portway_for(config) if config is not None else None
    vars = Vars()

    async def call() -> Any:
        if file == "ports":
            return pw.validate_port(inp["port"]) if pw else portway.validate_port(inp["port"])
        if file == "sandbox_ids":
            f = pw.validate_sandbox_id if pw else portway.validate_sandbox_id
            return f(inp["id"])
        if file == "tokens":
            return pw.validate_token(inp["token"]) if pw else portway.validate_token(inp["token"])
        if file == "preview_urls":
            f = pw.build_preview_url if pw else portway.build_preview_url
            return f(inp["port"], inp["sandbox_id"], inp["token"], inp["hostname"])
        if file == "preview_hosts":
            f = pw.parse_preview_host if pw else portway.parse_preview_host
            return route_json(f(inp["host"]))
        raise AssertionError(f"no runner for {file}")

    await check(ctx, case["expect"], call, vars)


async def run_step(pw: portway.Portway, step: dict[str, Any], vars: Vars) -> Any:
    op = step["op"]
    if op == "resolve":
        return resolution_json(pw.resolve(vars.subst(step["host"])))
    # The step's upstream_host when the key is present (even if empty), else the default.
    sb = pw.sandbox(step["sandbox"], step.get("upstream_host", "127.0.0.1"))

    def text(key: str) -> str | None:
        value = step.get(key)
        return None if value is None else vars.subst(value)

    if op == "sandbox":
        return sb.id
    if op == "expose":
        e = await sb.expose_port(
            step["port"], text("hostname"), name=text("name"), token=text("token")
        )
        return {"port": e.port, "url": e.url, "name": e.name}
    if op == "unexpose":
        return await sb.unexpose_port(step["port"])
    if op == "list":
        ports = await sb.get_exposed_ports(text("hostname"))
        return [{"port": p.port, "url": p.url, "name": p.name, "status": p.status} for p in ports]
    if op == "is_exposed":
        return await sb.is_port_exposed(step["port"])
    if op == "validate_token":
        return await sb.validate_port_token(step["port"], text("token"))
    if op == "mark_running":
        return await sb.mark_running()
    if op == "mark_stopped":
        return await sb.mark_stopped()
    if op == "destroy":
        return await sb.destroy()
    raise AssertionError(f"unknown op {op!r}")


async def run_flow(case: dict[str, Any], ctx: str) -> None:
    pw = portway_for(case.get("config"))
    vars = Vars()
    steps = case["steps"]
    assert steps, f"{ctx}: a flow without steps"
    for i, step in enumerate(steps):
        step_ctx = f"{ctx} step {i} ({step['op']})"
        await check(step_ctx, step["expect"], lambda s=step: run_step(pw, s, vars), vars)


@pytest.mark.parametrize(("path", "case"), params())
async def test_vector(path: Path, case: dict[str, Any] | None) -> None:
    assert case is not None, f"{path.name} could not be read or has no cases"
    ctx = f"{path.name} {case.get('name', '?')}"
    if path.stem == "flows":
        await run_flow(case, ctx)
    else:
        await run_simple(path.stem, case, ctx)
    VECTORS_RUN[path.name] += 1
