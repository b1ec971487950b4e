#!/usr/bin/env bash
# Part of make bench: build_preview_url and parse_preview_host per call from Python and Node.
# Builds each package as its own test script would (a release wheel with maturin; the napi
# addon) when it exists, and appends one JSON line per measurement to the file given.
#   bench/bindings.sh RESULTS.jsonl
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${1:?usage: bench/bindings.sh RESULTS.jsonl}
ROUNDS=${ROUNDS:-5}
CALLS=${CALLS:-200000}
HOST_ARG="8080-550e8400-e29b-41d4-k3j9x0q2m7w1z5ab.preview.example.com"

# --- Python ---------------------------------------------------------------------------------
if [[ -f python/pyproject.toml && -f bindings/python/Cargo.toml ]]; then
    venv=$ROOT/target/bench-venv
    [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
    maturin=$(grep -E '^maturin==' python/requirements-dev.txt 2>/dev/null || echo maturin)
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$maturin"
    rm -rf "$ROOT/target/bench-wheels"
    (cd python && "$venv/bin/maturin" build --release --locked --out "$ROOT/target/bench-wheels") >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall \
        --no-deps "$ROOT"/target/bench-wheels/portway-*.whl
    for round in $(seq 1 "$ROUNDS"); do
        (cd /tmp && "$venv/bin/python" - "$CALLS" "$HOST_ARG") <<'EOF' | while read -r fn ns; do
import sys, timeit
import portway
calls, host = int(sys.argv[1]), sys.argv[2]
b = portway.build_preview_url
p = portway.parse_preview_host
assert p(host) is not None
for name, stmt in (
    ("build_preview_url", lambda: b(8080, "550e8400-e29b-41d4", "k3j9x0q2m7w1z5ab", "preview.example.com")),
    ("parse_preview_host", lambda: p(host)),
):
    # The loop's own cost (an empty lambda call) is not the binding's.
    empty = min(timeit.repeat(lambda: None, number=calls, repeat=3)) / calls
    t = min(timeit.repeat(stmt, number=calls, repeat=3)) / calls
    print(name, round((t - empty) * 1e9, 1))
EOF
            printf '{"section":"bindings","target":"python","round":%s,"fn":"%s","m":{"ns_per_call":%s}}\n' \
                "$round" "$fn" "$ns" >>"$OUT"
            echo "python $fn: $ns ns per call" >&2
        done
    done
else
    echo "bindings: no Python package yet (python/pyproject.toml); pending" >&2
fi

# --- Node -----------------------------------------------------------------------------------
if [[ -f node/package.json && -f bindings/node/Cargo.toml ]] && grep -q '"build"' node/package.json; then
    (cd node && { [[ -d node_modules/@napi-rs ]] || npm ci --no-audit --no-fund; } && npm run build) >&2
    for round in $(seq 1 "$ROUNDS"); do
        node - "$CALLS" "$HOST_ARG" <<'EOF' | while read -r fn ns; do
const { buildPreviewUrl, parsePreviewHost } = require(process.cwd() + '/node');
const calls = Number(process.argv[2]), host = process.argv[3];
if (parsePreviewHost(host) === null) throw new Error('the host did not parse');
function time(f) {
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) f();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / calls);
  }
  return best;
}
let sink = 0;
const empty = time(() => { sink++; });
const cases = {
  build_preview_url: () => buildPreviewUrl(8080, '550e8400-e29b-41d4', 'k3j9x0q2m7w1z5ab', 'preview.example.com'),
  parse_preview_host: () => parsePreviewHost(host),
};
for (const [name, f] of Object.entries(cases)) {
  console.log(name, (time(f) - empty).toFixed(1));
}
EOF
            printf '{"section":"bindings","target":"node","round":%s,"fn":"%s","m":{"ns_per_call":%s}}\n' \
                "$round" "$fn" "$ns" >>"$OUT"
            echo "node $fn: $ns ns per call" >&2
        done
    done
else
    echo "bindings: no Node package yet (node/package.json with a build script); pending" >&2
fi
