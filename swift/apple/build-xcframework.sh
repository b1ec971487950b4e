#!/usr/bin/env bash
# NEEDS macOS WITH XCODE (xcodebuild, lipo). It cannot run on Linux, and is not part of
# `make test`.
#
# Builds target/swift/PortwayFFI.xcframework (inside the package, ignored by git):
# libportway_ffi as a static library for macOS (arm64 + x86_64), iOS devices (arm64) and the
# iOS simulator (arm64 + x86_64), each with the PortwayFFI module (PortwayFFI.h and a module
# map). Then zips it and prints the checksum a `.binaryTarget(url:checksum:)` needs.
#
#   swift/apple/build-xcframework.sh
#
# Use it from a checkout (the root Package.swift picks the XCFramework instead of the
# pkg-config system library when PORTWAY_XCFRAMEWORK is set):
#
#   PORTWAY_XCFRAMEWORK=target/swift/PortwayFFI.xcframework swift build
#
# or publish the zip and reference it from a release manifest (see swift/README.md).
set -euo pipefail

[[ "$(uname -s)" == Darwin ]] || { echo "build-xcframework.sh needs macOS with Xcode" >&2; exit 1; }
for tool in xcodebuild lipo rustup cargo; do
    command -v "$tool" >/dev/null || { echo "build-xcframework.sh: $tool is missing" >&2; exit 1; }
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo"
targets=(aarch64-apple-darwin x86_64-apple-darwin aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}"

# The committed bindings must match the library (built for the host here).
swift/generate.sh --check --release >/dev/null

target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
for t in "${targets[@]}"; do
    cargo rustc --locked --release -p portway-uniffi --lib --target "$t" --crate-type staticlib
done

work=$target_dir/swift/xcframework
rm -rf "$work"
mkdir -p "$work/headers" "$work/macos" "$work/ios-simulator"
cp swift/Sources/PortwayFFI/PortwayFFI.h "$work/headers/"
# As swift/Sources/PortwayFFI/module.modulemap, without `link`: the static library is linked
# through the XCFramework.
cat >"$work/headers/module.modulemap" <<'MAP'
module PortwayFFI {
    header "PortwayFFI.h"
    export *
}
MAP
lib=libportway_ffi.a
lipo -create "$target_dir/aarch64-apple-darwin/release/$lib" "$target_dir/x86_64-apple-darwin/release/$lib" \
    -output "$work/macos/$lib"
lipo -create "$target_dir/aarch64-apple-ios-sim/release/$lib" "$target_dir/x86_64-apple-ios/release/$lib" \
    -output "$work/ios-simulator/$lib"

mkdir -p target/swift
out=target/swift/PortwayFFI.xcframework
rm -rf "$out" "$out.zip"
xcodebuild -create-xcframework \
    -library "$work/macos/$lib" -headers "$work/headers" \
    -library "$target_dir/aarch64-apple-ios/release/$lib" -headers "$work/headers" \
    -library "$work/ios-simulator/$lib" -headers "$work/headers" \
    -output "$out"
(cd target/swift && zip -qry PortwayFFI.xcframework.zip PortwayFFI.xcframework)
echo "built $out and $out.zip"
echo "checksum: $(swift package compute-checksum "$out.zip")"
