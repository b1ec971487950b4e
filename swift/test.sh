#!/usr/bin/env bash
# The Swift package's check (`make test-swift`, part of `make test`):
#
#   1. runs the facade crate's unit tests (bindings/uniffi), builds libportway_ffi (debug,
#      unstripped) and the workspace's uniffi-bindgen, generates the bindings from that
#      library and fails if the committed ones are stale (swift/generate.sh --check;
#      PORTWAY_SWIFT_REGENERATE=1 rewrites them instead);
#   2. builds the fixture service (tests/fixture, the sandbox service of the tests), starts a
#      redis-server on the host for the Redis store's tests (a free loopback port, a temporary
#      directory, no persistence; named to them in PORTWAY_REDIS_URL, killed when this script
#      exits; the Swift root cannot run the host's binary but shares its network) and runs
#      `swift test` (XCTest: every conformance vector, gateway.json's among them, a real
#      gateway and service, WebSockets, every error code, the parity list, the Redis store)
#      through scripts/swift.sh, which provisions Swift 6 in a Debian trixie root when swift is
#      not on the PATH;
#   3. checks the package as a user gets it: installs the library and its portway.pc into a
#      temporary prefix (swift/install.sh), then builds and runs a throwaway package in /tmp
#      that depends on this one by path (SwiftPM refuses unsafe flags in dependencies, so this
#      also checks that the package needs none).
#
# Installs nothing outside cargo's target directory ($CARGO_TARGET_DIR, else target/), .build/
# and /tmp. Set PORTWAY_SWIFT_SKIP_CONSUMER=1 to
# skip step 3. The redis-server is $PORTWAY_REDIS_SERVER, else redis-server on the PATH
# (scripts/redis.sh installs it).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
started=$SECONDS
log() { printf 'swift/test.sh: %s\n' "$*" >&2; }

out=$(mktemp -d /tmp/portway-swift-test.XXXXXX)
trap 'rm -rf "$out"' EXIT

# 1. The facade's own unit tests (error codes, runtime, conversions), the library and the
#    bindings.
if ! cargo test --locked -q -p portway-uniffi >"$out/cargo-test.log" 2>&1; then
    cat "$out/cargo-test.log" >&2
    log "cargo test -p portway-uniffi failed"
    exit 1
fi
log "$(grep -E '^test result' "$out/cargo-test.log" | head -n 1 | sed 's/^/portway-uniffi unit tests: /')"
gen_args=(--check)
[[ "${PORTWAY_SWIFT_REGENERATE:-}" == 1 ]] && gen_args=()
libdir=$(swift/generate.sh "${gen_args[@]}" | tail -n 1)
export PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
[[ "$(uname -s)" == Darwin ]] && export DYLD_LIBRARY_PATH=$libdir${DYLD_LIBRARY_PATH:+:$DYLD_LIBRARY_PATH}
log "library and bindings ready ($((SECONDS - started)) s)"

# The fixture service of the gateway vectors (tests/fixture): the sandbox service of the tests.
cargo build --locked -q -p portway-fixture
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
export PORTWAY_FIXTURE=$target_dir/debug/portway-fixture
# A target directory outside the repository ($CARGO_TARGET_DIR) is bound into the Swift root
# too (the library and the fixture live there).
case "$target_dir/" in
"$repo"/*) ;;
*) export PORTWAY_SWIFT_BIND=$target_dir${PORTWAY_SWIFT_BIND:+:$PORTWAY_SWIFT_BIND} ;;
esac

# A redis-server for RedisTests, on the host: on the first of a few random ports it binds,
# answering PING within 10 s (and it, not another server on that port: INFO's process_id).
redis_pid=
stop_redis() {
    if [[ -n "$redis_pid" ]]; then
        kill -KILL "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
        redis_pid=
    fi
}
trap 'stop_redis; rm -rf "$out"' EXIT
redis_answers() { # port pid: whether the redis-server of this pid answers PING on port
    local line pong=0 ours=0
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf 'PING\r\nINFO server\r\n' >&3
    while read -r -t 1 line <&3; do
        line=${line%$'\r'}
        [[ "$line" == +PONG ]] && pong=1
        if [[ "$line" == process_id:* ]]; then
            [[ "${line#process_id:}" == "$2" ]] && ours=1
            break
        fi
    done
    exec 3<&- 3>&-
    ((pong && ours))
}
start_redis() {
    local binary=${PORTWAY_REDIS_SERVER:-redis-server} attempt port i
    if ! command -v "$binary" >/dev/null 2>&1; then
        log "no $binary to run for the Redis store's tests: install it with scripts/redis.sh (or apt-get install redis-server), or name it in PORTWAY_REDIS_SERVER"
        exit 1
    fi
    mkdir -p "$out/redis"
    for attempt in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 30000))
        "$binary" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
            --dir "$out/redis" --daemonize no --logfile "$out/redis/redis.log" </dev/null >/dev/null 2>&1 &
        redis_pid=$!
        for ((i = 0; i < 500; i++)); do
            if redis_answers "$port" "$redis_pid"; then
                export PORTWAY_REDIS_URL=redis://127.0.0.1:$port/0
                log "redis-server (pid $redis_pid) on $PORTWAY_REDIS_URL for the Redis store's tests"
                return 0
            fi
            kill -0 "$redis_pid" 2>/dev/null || break # could not bind: another port
            sleep 0.02
        done
        stop_redis
        log "redis-server on port $port did not start (attempt $attempt): $(tail -n 3 "$out/redis/redis.log" 2>/dev/null)"
    done
    log "could not start $binary for the Redis store's tests"
    exit 1
}
start_redis

# 2. The tests.
set +e
scripts/swift.sh test 2>&1 | tee "$out/test.log"
rc=${PIPESTATUS[0]}
set -e
if ((rc != 0)); then
    log "swift test failed (exit $rc)"
    exit "$rc"
fi
tests=$(grep -A1 "Test Suite 'All tests' passed" "$out/test.log" | sed -n 's/.*Executed \([0-9]*\) tests\{0,1\},.*/\1/p')
vectors=$(awk '/^vectors: / { run += $3; skipped += $5 } END { printf "%d run, %d skipped (dynamic_only)", run, skipped }' "$out/test.log")
log "swift test: ${tests:-?} tests passed; vectors: $vectors ($((SECONDS - started)) s)"

# 3. The package as a user gets it.
if [[ "${PORTWAY_SWIFT_SKIP_CONSUMER:-}" == 1 ]]; then
    log "consumer check skipped (PORTWAY_SWIFT_SKIP_CONSUMER=1)"
    exit 0
fi
prefix=$out/prefix
swift/install.sh --debug "$prefix" >/dev/null
consumer=$out/consumer
mkdir -p "$consumer/Sources/Consumer"
# A path dependency's identity is its directory name.
identity=$(basename "$repo" | tr '[:upper:]' '[:lower:]')
cat >"$consumer/Package.swift" <<EOF
// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Consumer",
    dependencies: [.package(path: "$repo")],
    targets: [
        .executableTarget(
            name: "Consumer",
            dependencies: [.product(name: "Portway", package: "$identity")]
        ),
    ]
)
EOF
cat >"$consumer/Sources/Consumer/main.swift" <<'EOF'
import Portway

let portway = try Portway(domains: ["localhost"], store: ":memory:")
let sandbox = try portway.sandbox(id: "consumer-check")
let exposed = try await sandbox.exposePort(8080, hostname: "localhost:8787")
print(exposed.url)
EOF
set +e
(
    cd "$consumer"
    PKG_CONFIG_PATH=$prefix/lib/pkgconfig LD_LIBRARY_PATH=$prefix/lib DYLD_LIBRARY_PATH=$prefix/lib \
        "$repo/scripts/swift.sh" run --scratch-path "$consumer/.build" Consumer
) >"$out/consumer.out" 2>"$out/consumer.err"
rc=$?
set -e
url=$(tail -n 1 "$out/consumer.out")
if ((rc != 0)) || [[ ! "$url" =~ ^http://8080-consumer-check-[a-z0-9]{16}\.localhost:8787/$ ]]; then
    cat "$out/consumer.err" "$out/consumer.out" >&2
    log "consumer check failed (exit $rc): a package depending on this one by path did not print a preview URL"
    exit 1
fi
log "consumer check: a package depending on this one by path printed $url"
log "passed in $((SECONDS - started)) s"
