#!/usr/bin/env bash
# Builds the Python package and tests it: ruff, mypy's stubtest (the stubs against the real
# module), and pytest (conformance vectors, a real gateway in front of real services, every
# error code, API parity, the wheel in a fresh venv, every case of tests/vectors/gateway.json
# against the fixture service, which it builds). Works on a fresh machine: it makes
# python/.venv and installs what it needs there. Cargo's output goes where cargo puts it
# ($CARGO_TARGET_DIR, else target/).
#
#   python/test.sh             build a release wheel (what pip install gives users) and test
#   python/test.sh -k gateway  extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")"
started=$SECONDS
step() { printf '\n== %s (%ss)\n' "$1" "$((SECONDS - started))"; }

PYTHON=${PYTHON:-python3}
VENV=.venv
DIST=dist

step "virtual environment"
if [[ ! -x $VENV/bin/python ]]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

step "build the wheel (maturin, release, manylinux2014 with zig: the wheel make dist ships)"
rm -f "$DIST"/portway-*.whl
# maturin finds zig (the ziglang package) through the venv's python on PATH.
PATH=$PWD/$VENV/bin:$PATH "$VENV/bin/maturin" build --release --locked \
    --zig --compatibility manylinux2014 --target x86_64-unknown-linux-gnu --out "$DIST"
wheel=$(ls "$DIST"/portway-*.whl)
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall \
    --no-deps "$wheel"

step "ruff"
"$VENV/bin/ruff" check src tests
"$VENV/bin/ruff" format --check src tests

step "stubtest: portway/_native.pyi against the built module"
# Run outside the source tree so the installed package is the one checked.
venv_python=$PWD/$VENV/bin/python
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && "$venv_python" -m mypy.stubtest portway._native --concise)

step "the fixture service of the gateway vectors (tests/fixture, debug)"
cargo build --locked -q -p portway-fixture
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
    "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export PORTWAY_FIXTURE=$target_dir/debug/portway-fixture

step "pytest"
PORTWAY_WHEEL=$PWD/$wheel "$VENV/bin/python" -m pytest -q "$@"

step "done"
