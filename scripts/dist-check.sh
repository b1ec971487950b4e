#!/usr/bin/env bash
# `make test-dist`: installs what `make dist` wrote as a user would, on a machine where no
# Rust is reachable, and runs a real program with each:
#
#   - the checksums in dist/SHA256SUMS;
#   - Python: a fresh virtual environment, `pip install --no-index` of the wheel, then
#     scripts/dist-check/check.py (expose a port, serve the gateway, GET through it, a
#     WebSocket message through it);
#   - Node: a fresh npm project, `npm install --offline` of the two tarballs (nothing from the
#     registry), then scripts/dist-check/check.mjs (the same); and the main package alone
#     (no platform package, no Rust sources): the error names the platform and the way to
#     build from source, and is no loader stack trace;
#   - the server: the tarball unpacked, `portway serve` with an admin API, a sandbox exposed
#     through it, a GET through the gateway;
#   - one Redis (scripts/redis.sh): two `portway serve` gateways from the tarball, and a Python
#     and a Node control plane (the installed packages) exposing ports of one sandbox at the
#     same time, 50 of them the same: one token per port, none twice, all 150 routed by both
#     gateways.
#
# "No Rust" is an environment of its own: `env -i` with PATH holding the system's
# directories only and HOME a new empty directory, so cargo, rustc, ~/.cargo and ~/.rustup
# are out of reach (checked first). The sandbox service (tests/fixture) is built before.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$SECONDS
step() { printf '\n== dist-check: %s (%ss)\n' "$1" "$((SECONDS - started))"; }
die() { echo "dist-check: $*" >&2; exit 1; }

DIST=${DIST:-$root/dist}
[[ -f $DIST/SHA256SUMS ]] || die "no $DIST/SHA256SUMS: run make dist first"
version=$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print({p["name"]: p["version"] for p in json.load(sys.stdin)["packages"]}["portway"])')
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

step "checksums"
(cd "$DIST" && sha256sum --check --strict SHA256SUMS)

step "the sandbox service (tests/fixture)"
cargo build --locked -q -p portway-fixture
fixture_bin=$target_dir/debug/portway-fixture
# The Python the user has (pyenv's or the system's), resolved while PATH still finds it.
user_python=$(python3 -c 'import sys; print(sys.executable)')

scratch=$(mktemp -d)
fixture_pid=
server_pid=
extra_pids=()
cleanup() {
    [[ -n $fixture_pid ]] && kill "$fixture_pid" 2>/dev/null || true
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
    for pid in "${extra_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$scratch"
}
trap cleanup EXIT
mkdir -p "$scratch/home" "$scratch/tmp"

step "glibc: every native piece runs on glibc 2.17 (manylinux2014)"
mkdir -p "$scratch/native"
"$user_python" - "$DIST" "$scratch/native" "$version" <<'PY'
import glob, sys, tarfile, zipfile
dist, out, version = sys.argv[1:]
with zipfile.ZipFile(glob.glob(f"{dist}/portway-{version}-*.whl")[0]) as w:
    [lib] = [n for n in w.namelist() if n.endswith(".so")]
    open(f"{out}/wheel.so", "wb").write(w.read(lib))
with tarfile.open(f"{dist}/portway-linux-x64-gnu-{version}.tgz") as t:
    open(f"{out}/addon.node", "wb").write(t.extractfile("package/portway.linux-x64-gnu.node").read())
with tarfile.open(glob.glob(f"{dist}/portway-server-{version}-*.tar.gz")[0]) as t:
    [m] = [m for m in t.getmembers() if m.name.endswith("/portway")]
    open(f"{out}/portway", "wb").write(t.extractfile(m).read())
PY
for f in wheel.so addon.node portway; do
    newest=$(objdump -T "$scratch/native/$f" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
    printf '%-11s needs %s\n' "$f" "$newest"
    [[ $(printf '%s\n' "$newest" GLIBC_2.17 | sort -V | tail -1) == GLIBC_2.17 ]] ||
        die "$f needs $newest, newer than manylinux2014's glibc 2.17"
done

# The fixture runs until its stdin closes: a fifo held open by this script.
mkfifo "$scratch/fixture.in"
"$fixture_bin" < "$scratch/fixture.in" > "$scratch/fixture.out" &
fixture_pid=$!
exec 9> "$scratch/fixture.in"
for _ in $(seq 100); do
    grep -q '^listening ' "$scratch/fixture.out" 2>/dev/null && break
    sleep 0.05
done
fixture_port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$scratch/fixture.out")
[[ -n $fixture_port ]] || die "the fixture service did not start"

norust=(env -i "PATH=/usr/local/bin:/usr/bin:/bin" "HOME=$scratch/home" "TMPDIR=$scratch/tmp"
    "LANG=C.UTF-8" "FIXTURE_PORT=$fixture_port")
step "an environment without Rust"
if "${norust[@]}" sh -c 'command -v cargo || command -v rustc || ls -d "$HOME/.cargo" "$HOME/.rustup"' 2>/dev/null; then
    die "Rust is reachable in the check's environment"
fi
echo "no cargo, no rustc, no ~/.cargo or ~/.rustup"

step "Python: pip install the wheel into a fresh venv"
wheel=$(ls "$DIST"/portway-"$version"-*.whl)
"${norust[@]}" "$user_python" -m venv "$scratch/venv"
t0=$EPOCHREALTIME
"${norust[@]}" "$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-index "$wheel"
t1=$EPOCHREALTIME
printf 'pip install %s: %.1f s\n' "$(basename "$wheel")" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
(cd "$scratch" && "${norust[@]}" "$scratch/venv/bin/python" "$root/scripts/dist-check/check.py")

step "Node: npm install the tarballs into a fresh project (offline)"
project=$scratch/node-project
mkdir -p "$project"
npm_offline=(--offline --no-audit --no-fund --loglevel=error "--cache=$scratch/npm-cache"
    "--registry=http://127.0.0.1:9/")
(cd "$project" && "${norust[@]}" npm init -y >/dev/null)
t0=$EPOCHREALTIME
(cd "$project" && "${norust[@]}" npm install "${npm_offline[@]}" \
    "$DIST/portway-linux-x64-gnu-$version.tgz" "$DIST/portway-$version.tgz")
t1=$EPOCHREALTIME
printf 'npm install of the two tarballs: %.1f s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
cp scripts/dist-check/check.mjs "$project/"
(cd "$project" && "${norust[@]}" node check.mjs)

step "Node: the main package without its platform package"
alone=$scratch/node-alone
mkdir -p "$alone"
(cd "$alone" && "${norust[@]}" npm init -y >/dev/null)
set +e
(cd "$alone" && "${norust[@]}" npm install "${npm_offline[@]}" --omit=optional \
    "$DIST/portway-$version.tgz") > "$scratch/alone.log" 2>&1
rc=$?
set -e
cat "$scratch/alone.log"
[[ $rc -ne 0 ]] || die "npm install without the platform package succeeded"
grep -q "no prebuilt native addon for linux-x64" "$scratch/alone.log" ||
    die "the install error does not name the platform"
grep -q "https://rustup.rs" "$scratch/alone.log" ||
    die "the install error does not say how to build from source"
# Installed with --ignore-scripts, the package is there: requiring it gives the same advice.
(cd "$alone" && "${norust[@]}" npm install "${npm_offline[@]}" --omit=optional --ignore-scripts \
    "$DIST/portway-$version.tgz")
set +e
(cd "$alone" && "${norust[@]}" node -e "require('portway')") > "$scratch/require.log" 2>&1
rc=$?
set -e
cat "$scratch/require.log"
[[ $rc -ne 0 ]] || die "require('portway') without an addon succeeded"
grep -q "no native addon for linux-x64 could be loaded" "$scratch/require.log" ||
    die "the require error does not name the platform"
grep -q "ERR_PORTWAY_NO_ADDON" "$scratch/require.log" || die "the require error has no code"
! grep -q "Cannot find" "$scratch/require.log" ||
    die "the require error shows the loader's own errors"

step "the server tarball"
name=portway-server-$version-x86_64-unknown-linux-gnu
tar -C "$scratch" -xzf "$DIST/$name.tar.gz"
for f in portway LICENSE README.md CHANGELOG.md; do
    [[ -f $scratch/$name/$f ]] || die "$name.tar.gz has no $f"
done
"${norust[@]}" "$scratch/$name/portway" --version
"${norust[@]}" "$scratch/$name/portway" serve --store :memory: --listen 127.0.0.1:0 \
    --admin-listen 127.0.0.1:0 --access-log off > "$scratch/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    [[ $(grep -c ' listening on ' "$scratch/server.out" 2>/dev/null) -ge 2 ]] && break
    sleep 0.05
done
cat "$scratch/server.out"
PYTHONPATH= "$user_python" - "$scratch/server.out" "$fixture_port" <<'PY'
import json, re, sys, urllib.request, http.client
out = open(sys.argv[1]).read()
fixture = int(sys.argv[2])
addrs = dict(re.findall(r"^(gateway|admin)(?: API)? listening on (\S+)$", out, re.M))
assert {"gateway", "admin"} <= addrs.keys(), out
def admin(method, path, body=None):
    req = urllib.request.Request(f"http://{addrs['admin']}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
admin("PUT", "/v1/sandboxes/srv", {"upstream_host": "127.0.0.1"})
exposed = admin("POST", "/v1/sandboxes/srv/ports", {"port": fixture, "hostname": "localhost"})
host = exposed["url"].split("//", 1)[1].rstrip("/")
gw_host, gw_port = addrs["gateway"].split(":")
conn = http.client.HTTPConnection(gw_host, int(gw_port))
conn.request("GET", "/echo?from=server", headers={"host": host})
res = conn.getresponse()
body = json.loads(res.read())
assert res.status == 200 and body["path"] == "/echo?from=server", (res.status, body)
print(f"server: GET through {exposed['url']} -> {res.status}")
PY

step "one Redis: two gateways, a Python and a Node control plane writing at once"
redis_bin=$(scripts/redis.sh)
redis_port=$("$user_python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$scratch/redis"
"$redis_bin" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$scratch/redis" --daemonize no > "$scratch/redis.log" 2>&1 &
redis_pid=$!
extra_pids+=("$redis_pid")
redis_url=redis://127.0.0.1:$redis_port/0
for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break
    sleep 0.05
done
gateways=()
for g in 1 2; do
    # Nothing listens on the exposed ports: answer 502 at once rather than retry for 1 s.
    "${norust[@]}" "$scratch/$name/portway" serve --store "$redis_url" --listen 127.0.0.1:0 \
        --admin-listen 127.0.0.1:0 --access-log off --connect-retry-window 1ms \
        > "$scratch/gw$g.out" 2>&1 &
    gateways+=($!)
    extra_pids+=($!)
done
for g in 1 2; do
    for _ in $(seq 100); do
        [[ $(grep -c ' listening on ' "$scratch/gw$g.out" 2>/dev/null) -ge 2 ]] && break
        sleep 0.05
    done
done
cp scripts/dist-check/writer.mjs "$project/"
(cd "$project" && "${norust[@]}" REDIS_URL="$redis_url" OWN_BASE=21000 node writer.mjs > "$scratch/node-writes.json") &
node_writer=$!
(cd "$scratch" && "${norust[@]}" REDIS_URL="$redis_url" OWN_BASE=22000 \
    "$scratch/venv/bin/python" "$root/scripts/dist-check/writer.py" > "$scratch/python-writes.json") &
python_writer=$!
wait "$node_writer" "$python_writer"
"$user_python" - "$scratch" <<'PY'
import http.client, json, re, sys
scratch = sys.argv[1]
node = json.load(open(f"{scratch}/node-writes.json"))
python = json.load(open(f"{scratch}/python-writes.json"))
token = lambda url: url.split("//", 1)[1].split(".", 1)[0].rsplit("-", 1)[1]
for port in range(20000, 20050):
    assert node[str(port)] == python[str(port)], f"port {port} got two URLs: {node[str(port)]} {python[str(port)]}"
urls = {**node, **python}
assert len(urls) == 150, len(urls)
assert len({token(u) for u in urls.values()}) == 150, "a token was given twice"
def addrs(path):
    out = open(path).read()
    return dict(re.findall(r"^(gateway|admin)(?: API)? listening on (\S+)$", out, re.M))
for g in (1, 2):
    a = addrs(f"{scratch}/gw{g}.out")
    host, port = a["admin"].split(":")
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", "/v1/sandboxes/shared")
    info = json.loads(conn.getresponse().read())
    assert info["exposed_ports"] == 150, info
    ghost, gport = a["gateway"].split(":")
    for url in urls.values():
        conn = http.client.HTTPConnection(ghost, int(gport))
        conn.request("GET", "/", headers={"host": url.split("//", 1)[1].rstrip("/")})
        res = conn.getresponse()
        body = res.read()
        # Routed: nothing listens on these ports in the sandbox, so the gateway says so.
        assert res.status == 502 and b"PORT_NOT_LISTENING" in body, (url, res.status, body)
print("redis: 150 exposures from two control planes at once (50 of them by both), one token "
      "each, all routed by both gateways")
PY
kill "${gateways[@]}" "$redis_pid" 2>/dev/null || true

step "sizes"
ls -l "$DIST" | awk 'NR > 1 { printf "%10d  %s\n", $5, $9 }'
step "passed"
