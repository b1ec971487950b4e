#!/usr/bin/env bash
# Installs Portway's native library and its pkg-config file, so that Swift packages depending
# on this one (by git URL or path) build and run without any flag:
#
#   swift/install.sh [--debug] PREFIX        (for example: sudo swift/install.sh /usr/local)
#
# Builds libportway_ffi (release unless --debug), checks that the committed Swift bindings
# match it, and installs
#   PREFIX/lib/libportway_ffi.so   (.dylib on macOS)
#   PREFIX/lib/pkgconfig/portway.pc
# $DESTDIR, if set, is prepended to every installed path (not to the paths in portway.pc).
# At run time the library must be found: PREFIX/lib in the loader's path (ldconfig, or
# LD_LIBRARY_PATH). SwiftPM finds portway.pc in pkg-config's default directories or in
# $PKG_CONFIG_PATH.
set -euo pipefail

profile=(--release)
if [[ "${1:-}" == --debug ]]; then
    profile=()
    shift
fi
if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 [--debug] PREFIX" >&2
    exit 2
fi
prefix=$1
[[ "$prefix" == /* ]] || prefix=$(pwd -P)/$prefix

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
built=$("$repo/swift/generate.sh" --check "${profile[@]}" | tail -n 1)

case "$(uname -s)" in
Darwin) libfile=libportway_ffi.dylib ;;
*) libfile=libportway_ffi.so ;;
esac
dest=${DESTDIR:-}$prefix/lib
mkdir -p "$dest/pkgconfig"
install -m 0755 "$built/$libfile" "$dest/$libfile"
sed "s|^libdir=.*|libdir=$prefix/lib|" "$built/pkgconfig/portway.pc" >"$dest/pkgconfig/portway.pc"
chmod 0644 "$dest/pkgconfig/portway.pc"
echo "installed $dest/$libfile and $dest/pkgconfig/portway.pc" >&2
echo "$prefix/lib"
