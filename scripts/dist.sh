#!/usr/bin/env bash
# `make dist`: the artifacts a user installs without Rust, in dist/ (or $DIST):
#
#   portway-VERSION-cp310-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl  the Python wheel
#   portway-VERSION.tar.gz                            the Python sdist (builds from source)
#   portway-VERSION.tgz                               the npm package `portway`
#   portway-linux-x64-gnu-VERSION.tgz                 its platform package (the .node addon)
#   portway-server-VERSION-x86_64-unknown-linux-gnu.tar.gz   the server: binary, LICENSE, docs
#   SHA256SUMS                                        sha256sum -c SHA256SUMS checks them all
#
# Every artifact carries the workspace's one version (Cargo.toml). All three native pieces
# (the wheel's library, the npm addon, the server) are linked by zig against glibc 2.17, the
# manylinux2014 baseline: linked on this machine's newer glibc they would only run on
# distributions as new as it, and zig needs no manylinux container (there is no Docker
# here). The wheel through maturin's --zig, the addon and the server through cargo-zigbuild;
# maturin, zig, cargo-zigbuild and auditwheel come from PyPI into python/.venv
# (python/requirements-dev.txt). The Node packages are laid out as the napi CLI lays them
# out: the main package names the platform package in optionalDependencies and its loader (binding.js)
# requires it; from a clone it still builds the addon itself (scripts/install.js).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$SECONDS
step() { printf '\n== dist: %s (%ss)\n' "$1" "$((SECONDS - started))"; }
die() { echo "dist: $*" >&2; exit 1; }

# What it needs, and how to get each.
need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 is missing: $2"
}
need cargo "install Rust from https://rustup.rs (rustup default stable)"
need python3 "install Python 3.10 or newer (Debian: apt-get install python3 python3-venv)"
need npm "install Node.js 20 or newer with npm (https://nodejs.org)"
need sha256sum "install coreutils"
need tar "install tar"
need strip "install binutils (Debian: apt-get install binutils)"
python3 -c 'import venv, ensurepip' 2>/dev/null ||
    die "python3 cannot make virtual environments: install python3-venv (Debian: apt-get install python3-venv)"
host=$(rustc -vV | sed -n 's/^host: //p')
[[ $host == x86_64-unknown-linux-gnu ]] ||
    die "this script builds the x86_64-unknown-linux-gnu artifacts and runs on that host (this is $host); other platforms are built by .github/workflows/release.yml"

version=$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print({p["name"]: p["version"] for p in json.load(sys.stdin)["packages"]}["portway"])')
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
DIST=${DIST:-$root/dist}
mkdir -p "$DIST"
rm -f "$DIST"/portway-* "$DIST"/SHA256SUMS
work=$target_dir/dist-work
rm -rf "$work"
mkdir -p "$work"

step "build tools (maturin and zig from PyPI, in python/.venv as python/test.sh makes it)"
venv=$root/python/.venv
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r python/requirements-dev.txt

step "Python wheel (abi3, manylinux2014 with zig) and sdist"
# The same command as python/test.sh's, so the wheel tested there is the one shipped (and
# cargo has nothing left to build).
(cd python && PATH=$venv/bin:$PATH "$venv/bin/maturin" build --release --locked \
    --zig --compatibility manylinux2014 --target x86_64-unknown-linux-gnu --out "$DIST")
(cd python && "$venv/bin/maturin" sdist --out "$DIST")
wheel=$(ls "$DIST"/portway-"$version"-*.whl)
# The tag pip decides on, from the symbols the library uses: it must be the one asked for.
"$venv/bin/auditwheel" show "$wheel" | tee "$work/auditwheel.txt"
grep -q 'manylinux_2_17_x86_64' "$work/auditwheel.txt" ||
    die "auditwheel does not find $wheel consistent with manylinux_2_17"

step "npm packages: portway and portway-linux-x64-gnu"
stage=$work/npm
mkdir -p "$stage/portway" "$stage/linux-x64-gnu"
# The addon: the napi crate as a shared library, linked by zig against glibc 2.17 (what
# `npm run build` makes, but for old distributions too); the loader and typings are the
# committed ones, which node/test.sh checks against what the napi CLI generates.
gnu=x86_64-unknown-linux-gnu
PATH=$venv/bin:$PATH cargo zigbuild --release --locked -p portway-node --target "$gnu.2.17"
cp "$target_dir/$gnu/release/libportway_node.so" "$stage/linux-x64-gnu/portway.linux-x64-gnu.node"
strip --strip-unneeded "$stage/linux-x64-gnu/portway.linux-x64-gnu.node"
cp node/index.js node/index.d.ts node/binding.js node/README.md LICENSE "$stage/portway/"
mkdir -p "$stage/portway/scripts"
cp node/scripts/install.js "$stage/portway/scripts/"
cp LICENSE "$stage/linux-x64-gnu/"
VERSION=$version STAGE=$stage node - <<'JS'
const fs = require('node:fs')
const path = require('node:path')
const { VERSION: version, STAGE: stage } = process.env
const main = JSON.parse(fs.readFileSync('node/package.json', 'utf8'))
if (main.version !== version) {
  throw new Error(`node/package.json has version ${main.version}, the workspace ${version}`)
}
const platform = 'linux-x64-gnu'
const platformName = `${main.name}-${platform}`
// The platform package: the addon, for the one platform npm installs it on.
const sub = {
  name: platformName,
  version,
  description: `The native addon of ${main.name} for Linux x64 (glibc)`,
  license: main.license,
  repository: main.repository,
  homepage: main.homepage,
  main: `portway.${platform}.node`,
  files: [`portway.${platform}.node`, 'LICENSE'],
  os: ['linux'],
  cpu: ['x64'],
  libc: ['glibc'],
  engines: main.engines,
}
fs.writeFileSync(path.join(stage, platform, 'package.json'), JSON.stringify(sub, null, 2) + '\n')
// The main package: no devDependencies, and the platform packages as optional ones.
delete main.devDependencies
// Only the install step: the others build and test from a clone.
main.scripts = { install: main.scripts.install }
main.optionalDependencies = { [platformName]: version }
main.files = main.files.filter((f) => f !== '*.node').concat(['LICENSE'])
fs.writeFileSync(path.join(stage, 'portway', 'package.json'), JSON.stringify(main, null, 2) + '\n')
JS
(cd "$stage/linux-x64-gnu" && npm pack --silent --pack-destination "$DIST" >/dev/null)
(cd "$stage/portway" && npm pack --silent --pack-destination "$DIST" >/dev/null)
[[ -f $DIST/portway-$version.tgz && -f $DIST/portway-linux-x64-gnu-$version.tgz ]] ||
    die "npm pack did not write the two tarballs"

step "the portway server (release, glibc 2.17) as a tarball"
PATH=$venv/bin:$PATH cargo zigbuild --release --locked -p portway-cli --target "$gnu.2.17"
name=portway-server-$version-$host
mkdir -p "$work/$name"
cp "$target_dir/$gnu/release/portway" LICENSE README.md CHANGELOG.md "$work/$name/"
strip "$work/$name/portway"
tar -C "$work" --owner=0 --group=0 --numeric-owner -czf "$DIST/$name.tar.gz" "$name"

step "checksums"
(cd "$DIST" && sha256sum portway-* > SHA256SUMS && cat SHA256SUMS)
ls -l "$DIST"
step "done: $DIST"
