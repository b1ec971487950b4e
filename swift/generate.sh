#!/usr/bin/env bash
# Builds libportway_ffi (the UniFFI crate, bindings/uniffi) and the workspace's own
# uniffi-bindgen, regenerates the Swift bindings from the library just built, and writes a
# pkg-config file for it. Installs nothing outside target/.
#
#   swift/generate.sh [--release] [--check]
#
#   --release  build the library with the release profile (default: debug, which shares its
#              dependencies with `cargo test`)
#   --check    do not touch the committed bindings; fail if they differ from the generated
#              ones (stale bindings abort a Swift process with "UniFFI API checksum mismatch")
#
# The generated files are committed, so that the package builds straight from a git URL:
#   swift/Sources/Portway/Generated/Portway.swift
#   swift/Sources/PortwayFFI/PortwayFFI.h
#
# Output, in target/swift/<profile>/ (a copy, so that another cargo build cannot change the
# library under a running test):
#   lib/libportway_ffi.so (.dylib on macOS)   lib/pkgconfig/portway.pc
# The last line printed is that lib directory.
set -euo pipefail

profile=debug
check=0
for arg in "$@"; do
    case "$arg" in
    --release) profile=release ;;
    --check) check=1 ;;
    *) echo "usage: $0 [--release] [--check]" >&2; exit 2 ;;
    esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
CARGO=${CARGO:-cargo}
target_dir=$("$CARGO" metadata --format-version 1 --no-deps --locked |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[[ -n "$target_dir" ]] || { echo "generate.sh: cannot find cargo's target directory" >&2; exit 1; }

case "$(uname -s)" in
Darwin) libfile=libportway_ffi.dylib ;;
*) libfile=libportway_ffi.so ;;
esac

log() { printf 'generate.sh: %s\n' "$*" >&2; }

# The bindgen is a debug build either way: it only reads the library's metadata.
log "building uniffi-bindgen and libportway_ffi ($profile)"
"$CARGO" build --locked -q -p portway-uniffi --features bindgen --bin uniffi-bindgen
profile_flag=()
[[ "$profile" == release ]] && profile_flag=(--release)
"$CARGO" build --locked -q -p portway-uniffi --lib "${profile_flag[@]}"

# Copy the library at once: the bindings are generated from, and the tests run against,
# this very file. (Unstripped: the bindgen reads UniFFI's metadata from its symbols.)
out=$target_dir/swift/$profile
mkdir -p "$out/lib/pkgconfig"
cp -f "$target_dir/$profile/$libfile" "$out/lib/$libfile.tmp"
mv -f "$out/lib/$libfile.tmp" "$out/lib/$libfile"

gen=$(mktemp -d "${TMPDIR:-/tmp}/portway-swift-gen.XXXXXX")
trap 'rm -rf "$gen"' EXIT
"$target_dir/debug/uniffi-bindgen" generate --library "$out/lib/$libfile" \
    --language swift --out-dir "$gen" --no-format --metadata-no-deps >/dev/null

stale=()
for pair in "Portway.swift:swift/Sources/Portway/Generated/Portway.swift" \
    "PortwayFFI.h:swift/Sources/PortwayFFI/PortwayFFI.h"; do
    from=$gen/${pair%%:*}
    to=${pair#*:}
    [[ -f "$from" ]] || { log "uniffi-bindgen wrote no ${pair%%:*}"; exit 1; }
    if ! cmp -s "$from" "$to"; then
        if ((check)); then
            stale+=("$to")
        else
            cp "$from" "$to"
            log "updated $to"
        fi
    fi
done
if ((${#stale[@]})); then
    log "the committed bindings are stale: ${stale[*]}"
    log "regenerate them with swift/generate.sh and commit them"
    exit 1
fi

version=$("$CARGO" pkgid -p portway-uniffi 2>/dev/null | sed 's/.*[#@]//')
cat >"$out/lib/pkgconfig/portway.pc" <<EOF
libdir=$out/lib

Name: portway
Description: Portway's native library for the Swift package (UniFFI)
Version: ${version:-0.0.0}
Libs: -L\${libdir} -lportway_ffi
Cflags:
EOF
echo "$out/lib"
