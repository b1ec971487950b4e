#!/usr/bin/env bash
# Builds PortwayFFI.xcframework, the native part of the Swift package for Apple platforms:
# libportway_ffi as a static library for
#
#   macOS            aarch64-apple-darwin + x86_64-apple-darwin   (one universal slice, lipo)
#   iOS              aarch64-apple-ios
#   iOS simulator    aarch64-apple-ios-sim + x86_64-apple-ios     (one universal slice, lipo)
#
# each with the PortwayFFI C module (the header uniffi-bindgen generates, as swift/generate.sh
# runs it, and a module map), then zips it and prints the checksum a
# `.binaryTarget(url:checksum:)` needs (swift/binary/Package.swift).
#
#   swift/xcframework.sh
#
# Needs macOS with Xcode (xcodebuild, lipo), rustup and cargo; it refuses to run elsewhere
# (exit 2). It is not part of `make test`; .github/workflows/release.yml runs it on a macOS
# runner. Writes
#
#   target/swift/PortwayFFI.xcframework   for a checkout (the root Package.swift uses it when
#                                         PORTWAY_XCFRAMEWORK=target/swift/PortwayFFI.xcframework)
#   dist/PortwayFFI.xcframework.zip       for a release ($DIST instead of dist/ if set)
#
# and prints the zip's checksum (`swift package compute-checksum`) as its last line.
set -euo pipefail

die() { echo "xcframework.sh: $*" >&2; exit 1; }
log() { printf 'xcframework.sh: %s\n' "$*" >&2; }

if [[ "$(uname -s)" != Darwin ]]; then
    echo "xcframework.sh: an XCFramework can only be built on macOS with Xcode (xcodebuild," \
        "lipo); this is $(uname -s). On Linux the Swift package links libportway_ffi through" \
        "pkg-config instead: make install-swift (swift/install.sh)." >&2
    exit 2
fi
for tool in xcodebuild lipo ditto rustup cargo; do
    command -v "$tool" >/dev/null || die "$tool is missing (install Xcode, and Rust from https://rustup.rs)"
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
CARGO=${CARGO:-cargo}
DIST=${DIST:-$repo/dist}

macos=(aarch64-apple-darwin x86_64-apple-darwin)
ios=(aarch64-apple-ios)
ios_sim=(aarch64-apple-ios-sim x86_64-apple-ios)
targets=("${macos[@]}" "${ios[@]}" "${ios_sim[@]}")
log "adding the Rust targets: ${targets[*]}"
rustup target add "${targets[@]}" >&2

# The package's minimum versions (Package.swift: macOS 10.15, iOS 13), so that the objects in
# the static libraries ask for no newer system than the package does. (arm64 macOS starts at
# 11 whatever is asked.)
export MACOSX_DEPLOYMENT_TARGET=${MACOSX_DEPLOYMENT_TARGET:-10.15}
export IPHONEOS_DEPLOYMENT_TARGET=${IPHONEOS_DEPLOYMENT_TARGET:-13.0}

# The library for this Mac and the bindgen, as swift/generate.sh builds them; --check fails
# if the committed Swift bindings do not match the library (a mismatch aborts an app at its
# first call). Its last line is the directory of the library it built.
host_lib_dir=$(swift/generate.sh --check --release | tail -n 1)
target_dir=$("$CARGO" metadata --format-version 1 --no-deps --locked |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[[ -n "$target_dir" ]] || die "cannot find cargo's target directory"

work=$target_dir/swift/xcframework
rm -rf "$work"
mkdir -p "$work/gen" "$work/headers" "$work/macos" "$work/ios" "$work/ios-simulator"

# The header, generated from the library just built the way swift/generate.sh generates it.
"$target_dir/debug/uniffi-bindgen" generate --library "$host_lib_dir/libportway_ffi.dylib" \
    --language swift --out-dir "$work/gen" --no-format --metadata-no-deps >/dev/null
[[ -f "$work/gen/PortwayFFI.h" ]] || die "uniffi-bindgen wrote no PortwayFFI.h"
cp "$work/gen/PortwayFFI.h" "$work/headers/PortwayFFI.h"
# The module map: swift/Sources/PortwayFFI/module.modulemap without `[system]` and `link`
# (bindings/uniffi/uniffi.toml has uniffi-bindgen write none): the XCFramework links the
# static library itself.
cat >"$work/headers/module.modulemap" <<'MAP'
module PortwayFFI {
    header "PortwayFFI.h"
    export *
}
MAP

# The crate is a cdylib (bindings/uniffi/Cargo.toml, lib portway_ffi); an XCFramework for iOS
# needs a static library, so each target is built with the crate type overridden.
for t in "${targets[@]}"; do
    log "building libportway_ffi.a for $t"
    "$CARGO" rustc --locked --release -p portway-uniffi --lib --target "$t" --crate-type staticlib
done
lib=libportway_ffi.a
# One library per platform: the architectures of a platform joined into one file.
slice() {
    local dest=$1 t
    shift
    local libs=()
    for t in "$@"; do libs+=("$target_dir/$t/release/$lib"); done
    lipo -create "${libs[@]}" -output "$work/$dest/$lib"
}
slice macos "${macos[@]}"
slice ios "${ios[@]}"
slice ios-simulator "${ios_sim[@]}"

out=$repo/target/swift/PortwayFFI.xcframework
rm -rf "$out"
mkdir -p "$(dirname "$out")"
xcodebuild -create-xcframework \
    -library "$work/macos/$lib" -headers "$work/headers" \
    -library "$work/ios/$lib" -headers "$work/headers" \
    -library "$work/ios-simulator/$lib" -headers "$work/headers" \
    -output "$out" >&2

mkdir -p "$DIST"
zip=$DIST/PortwayFFI.xcframework.zip
rm -f "$zip"
# The archive holds PortwayFFI.xcframework/ at its top, as SwiftPM expects.
ditto -c -k --sequesterRsrc --keepParent "$out" "$zip"
log "built $out and $zip"

# SwiftPM's checksum is the zip's SHA-256; compute-checksum is the command its docs name.
if command -v swift >/dev/null; then
    checksum=$(swift package compute-checksum "$zip")
else
    checksum=$(shasum -a 256 "$zip" | cut -d ' ' -f 1)
fi
log "checksum for .binaryTarget(name: \"PortwayFFI\", url: ..., checksum:):"
echo "$checksum"
