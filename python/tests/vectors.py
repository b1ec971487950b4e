"""The conformance-vector runner's helpers: expectations, `{t1}` variables, and the JSON shape
of Portway's records. The format is described in tests/vectors/README.md."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import portway

from support import VECTORS

GENERATED_TOKEN = re.compile(r"[a-z0-9]{16}")
VARIABLE = re.compile(r"\{([A-Za-z0-9]+)\}")

# The Portway constructor takes the vectors' config keys as they are.
CONFIG_KEYS = {
    "domains",
    "reserved_ports",
    "reserved_sandbox_ids",
    "custom_domain_suffixes",
    "normalize_id",
    "min_token_length",
}


def load(path: Path) -> list[dict[str, Any]]:
    """The cases of a vector file; a file without cases is an error, not a pass."""
    doc = json.loads(path.read_text())
    cases = doc.get("cases")
    assert isinstance(cases, list) and cases, f"{path.name}: no cases"
    return cases


def load_errors() -> dict[str, Any]:
    return json.loads((VECTORS / "errors.json").read_text())


def portway_for(config: dict[str, Any] | None) -> portway.Portway:
    config = config or {}
    unknown = set(config) - CONFIG_KEYS
    assert not unknown, f"unknown config keys {unknown}"
    return portway.Portway(**config)


class Vars:
    """Variables of a flow: `{t1}` binds to a generated token the first time it is expected,
    and must equal that value everywhere after."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def subst(self, text: str) -> str:
        def value(m: re.Match[str]) -> str:
            name = m.group(1)
            assert name in self.values, f"unbound variable {{{name}}} in {text!r}"
            return self.values[name]

        return VARIABLE.sub(value, text)

    def match_str(self, template: str, got: str) -> str | None:
        """None when `got` matches `template` (binding new variables), else why not."""
        bound: list[str] = []
        rest_t, rest_g = template, got

        def undo(why: str) -> str:
            for name in bound:
                del self.values[name]
            return why

        while (m := VARIABLE.search(rest_t)) is not None:
            prefix = rest_t[: m.start()]
            if not rest_g.startswith(prefix):
                return undo(f"{got!r} does not match {template!r}")
            rest_g = rest_g[len(prefix) :]
            name = m.group(1)
            if name not in self.values:
                candidate = rest_g[:16]
                if not GENERATED_TOKEN.fullmatch(candidate):
                    return undo(f"{candidate!r} is not a generated token ({template!r})")
                self.values[name] = candidate
                bound.append(name)
            value = self.values[name]
            if not rest_g.startswith(value):
                return undo(f"{got!r} does not match {template!r} with {{{name}}}={value}")
            rest_g = rest_g[len(value) :]
            rest_t = rest_t[m.end() :]
        if rest_t != rest_g:
            return undo(f"{got!r} does not match {template!r}")
        return None

    def match(self, want: Any, got: Any) -> str | None:
        if isinstance(want, str) and isinstance(got, str):
            return self.match_str(want, got)
        if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
            for i, (w, g) in enumerate(zip(want, got, strict=True)):
                if (why := self.match(w, g)) is not None:
                    return f"[{i}]: {why}"
            return None
        if isinstance(want, dict) and isinstance(got, dict) and want.keys() == got.keys():
            for key, w in want.items():
                if (why := self.match(w, got[key])) is not None:
                    return f"{key}: {why}"
            return None
        # JSON has no bool/int distinction problem here: True == 1 must not pass.
        if type(want) is type(got) and want == got:
            return None
        return f"expected {want!r}, got {got!r}"


def check_error(ctx: str, expect: dict[str, Any], err: portway.PortwayError, vars: Vars) -> None:
    code = expect["error"]
    assert err.code == code, f"{ctx}: expected error {code}, got {err.code}: {err}"
    # The class is the one of its code, not merely the base class.
    assert type(err).code == code, f"{ctx}: {type(err).__name__} is not the class of {code}"
    message = str(err)
    if "message" in expect:
        assert message == vars.subst(expect["message"]), f"{ctx}: message {message!r}"
    for part in expect.get("message_contains", []):
        assert part in message, f"{ctx}: message {message!r} lacks {part!r}"


async def check(
    ctx: str, expect: dict[str, Any], call: Callable[[], Awaitable[Any]], vars: Vars
) -> None:
    """Runs `call` and compares its result (converted to JSON) with `expect`."""
    assert ("ok" in expect) != ("error" in expect), f"{ctx}: expect needs exactly one of ok, error"
    try:
        got = await call()
    except portway.PortwayError as err:
        assert "error" in expect, f"{ctx}: expected {expect['ok']!r}, got {err.code}: {err}"
        check_error(ctx, expect, err, vars)
        return
    assert "ok" in expect, f"{ctx}: expected error {expect['error']}, got {got!r}"
    why = vars.match(expect["ok"], got)
    assert why is None, f"{ctx}: {why}"


def route_json(route: portway.Route | None) -> dict[str, Any] | None:
    if route is None:
        return None
    return {"port": route.port, "sandbox_id": route.sandbox_id, "token": route.token}


def resolution_json(r: portway.Resolution) -> dict[str, Any]:
    """Only the fields the resolution's kind carries (the others must be None)."""
    out: dict[str, Any] = {"kind": r.kind}
    for key in ("sandbox_id", "port", "upstream_host"):
        if (value := getattr(r, key)) is not None:
            out[key] = value
    return out
