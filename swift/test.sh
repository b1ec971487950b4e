#!/usr/bin/env bash
# The Swift package's check (`make test-swift`, part of `make test`):
#
#   1. runs the facade crate's unit tests (bindings/uniffi), builds libportway_ffi (debug,
#      unstripped) and the workspace's uniffi-bindgen, generates the bindings from that
#      library and fails if the committed ones are stale (swift/generate.sh --check;
#      PORTWAY_SWIFT_REGENERATE=1 rewrites them instead);
#   2. builds the fixture service (tests/fixture, the sandbox service of the tests) and runs
#      `swift test` (XCTest: every conformance vector, gateway.json's among them, a real
#      gateway and service, WebSockets, every error code, the parity list) through
#      scripts/swift.sh, which provisions Swift 6 in a Debian trixie root when swift is not on
#      the PATH;
#   3. checks the package as a user gets it: installs the library and its portway.pc into a
#      temporary prefix (swift/install.sh), then builds and runs a throwaway package in /tmp
#      that depends on this one by path (SwiftPM refuses unsafe flags in dependencies, so this
#      also checks that the package needs none).
#
# Installs nothing outside cargo's target directory ($CARGO_TARGET_DIR, else target/), .build/
# and /tmp. Set PORTWAY_SWIFT_SKIP_CONSUMER=1 to
# skip step 3.
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
