#!/usr/bin/env bash
# The Node package's whole check (`make test-node`), from a fresh clone: installs the pinned
# dev dependencies, builds the addon with the napi CLI, checks that the committed generated
# files (binding.js, index.d.ts) are what the build generates, type-checks the public API
# with tsc --strict, builds the fixture service of the gateway vectors (tests/fixture), runs
# node --test, then installs the package as a user gets it (npm pack, the tarball into a new
# project) and uses it there through require, import and the README's TypeScript example.
# Cargo's output goes where cargo puts it ($CARGO_TARGET_DIR, else target/).
#
# NODE_TEST_FRESH_CLONE=1 also clones the repository's HEAD and runs `npm install <clone>/node`
# in a new project: the install script builds the addon from source (a few minutes more).
set -euo pipefail

cd "$(dirname "$0")"
NODE_DIR=$PWD
REPO=$(cd .. && pwd)
START=$SECONDS
step() { printf '\n== node: %s (%ss)\n' "$1" $((SECONDS - START)); }

step "npm ci"
npm ci --ignore-scripts --no-audit --no-fund

step "napi build (release)"
npm run build

step "the committed binding.js and index.d.ts are what the build generates"
generated=(node/binding.js node/index.d.ts)
if ! git -C "$REPO" diff --exit-code -- "${generated[@]}" ||
  [ -n "$(git -C "$REPO" status --porcelain -- "${generated[@]}")" ]; then
  echo "node: the build changed ${generated[*]} (or they are not committed): commit what it generated" >&2
  exit 1
fi

step "tsc --noEmit --strict"
npx tsc --noEmit --strict -p tsconfig.json

step "the fixture service of the gateway vectors (tests/fixture, debug)"
cargo build --locked -q -p portway-fixture
target_dir=$(cargo metadata --format-version 1 --no-deps --locked | node -e "process.stdout.write(JSON.parse(require('fs').readFileSync(0, 'utf8')).target_directory)")
export PORTWAY_FIXTURE=$target_dir/debug/portway-fixture

step "node --test"
node --test test/*.test.js

step "npm pack, and the tarball installed into a new project"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
npm pack --silent --pack-destination "$TMP" >/dev/null
TARBALL=$(ls "$TMP"/portway-*.tgz)
tar -tzf "$TARBALL" | sort | sed 's/^/  /'
mkdir "$TMP/app"
cd "$TMP/app"
echo '{ "name": "app", "version": "1.0.0", "private": true }' >package.json
npm install --no-audit --no-fund --silent "$TARBALL"

node -e "
  const assert = require('node:assert/strict')
  const portway = require('portway')
  assert.equal(require.resolve('portway'), require('node:path').resolve('node_modules/portway/index.js'))
  assert.equal(portway.buildPreviewUrl(8080, 'box', 'token123', 'localhost'), 'http://8080-box-token123.localhost/')
  assert.throws(() => portway.validatePort(80), (e) => e instanceof portway.PortwayError && e.code === 'INVALID_PORT')
  console.log('require: ok')
"
node --input-type=module -e "
  import assert from 'node:assert/strict'
  import { Portway, PortwayError } from 'portway'
  import portway from 'portway'
  assert.equal(portway.Portway, Portway)
  const sb = new Portway().sandbox('box')
  const { url } = await sb.exposePort(8080, { hostname: 'localhost' })
  assert.match(url, /^http:\/\/8080-box-[a-z0-9]{16}\.localhost\/\$/)
  await assert.rejects(sb.exposePort(8080.5, { hostname: 'localhost' }), (e) => e instanceof PortwayError && e.code === 'INVALID_PORT')
  const gateway = await new Portway().serve({ listen: '127.0.0.1:0' })
  await gateway.close()
  console.log('import: ok')
"

# The README's TypeScript example, as written, compiled with tsc --strict and run.
awk '/^```ts$/ { n++; if (n == 1) { on = 1; next } } /^```$/ { on = 0 } on' "$NODE_DIR/README.md" >example.mts
cat >tsconfig.json <<EOF
{
  "compilerOptions": {
    "strict": true, "target": "ES2022", "lib": ["ES2022", "ESNext.Disposable"],
    "module": "NodeNext", "moduleResolution": "NodeNext",
    "types": ["node"], "typeRoots": ["$NODE_DIR/node_modules/@types"], "outDir": "."
  },
  "files": ["example.mts"]
}
EOF
"$NODE_DIR/node_modules/.bin/tsc" -p tsconfig.json
node example.mjs | tee example.out
grep -q '^200 hello from /hi?x=1, host localhost:' example.out
grep -q '^INVALID_PORT ' example.out
echo "README example: ok"

if [ "${NODE_TEST_FRESH_CLONE:-}" = 1 ]; then
  step "npm install ./node from a fresh clone (builds the addon from source)"
  git clone --quiet "$REPO" "$TMP/clone"
  mkdir "$TMP/app2"
  cd "$TMP/app2"
  echo '{ "name": "app2", "version": "1.0.0", "private": true }' >package.json
  # The clone builds into the repository's target directory: the dependencies are reused.
  CARGO_TARGET_DIR="$REPO/target" npm install --no-audit --no-fund "$TMP/clone/node"
  node -e "console.log('fresh clone:', require('portway').validatePort(8080) === 8080 ? 'ok' : 'FAILED')" | tee out
  grep -q 'fresh clone: ok' out
fi

step "done"
