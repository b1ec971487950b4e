'use strict'
// npm's install step. A package with a native addon for this platform (the tarball from
// `npm pack` carries one) has nothing to do. Without one (a fresh clone, `npm install ./node`)
// the addon is built from the Rust crate in ../bindings/node with the napi CLI, which needs
// Rust (cargo) on the machine: exactly `npm run build`, as a developer runs it.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const pkgDir = path.resolve(__dirname, '..')
const crate = path.join(pkgDir, '..', 'bindings', 'node', 'Cargo.toml')

function loads() {
  try {
    require(path.join(pkgDir, 'binding.js'))
    return true
  } catch {
    return false
  }
}

// Run npm for this package only: the variables of the npm that runs this script (its
// prefix, the dependency being installed) must not redirect it to the consumer's project.
function npm(args) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    const keep = ['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']
    if (!k.toLowerCase().startsWith('npm_') || keep.includes(k.toLowerCase())) env[k] = v
  }
  const execPath = process.env.npm_execpath
  const [cmd, argv] = execPath ? [process.execPath, [execPath, ...args]] : ['npm', args]
  const res = spawnSync(cmd, argv, { cwd: pkgDir, env, stdio: 'inherit' })
  if (res.error) throw res.error
  if (res.status !== 0) process.exit(res.status ?? 1)
}

function hasNapiCli() {
  try {
    require.resolve('@napi-rs/cli/package.json', { paths: [pkgDir] })
    return true
  } catch {
    return false
  }
}

if (loads()) process.exit(0)

if (!fs.existsSync(crate)) {
  console.error(
    `portway: no prebuilt native addon for ${process.platform}-${process.arch}: the optional ` +
      'package portway-<platform> for it is not installed (none is published for this ' +
      'platform, or optional dependencies were skipped), and this package has no Rust ' +
      `sources (${crate}) to build one from. To build from source, install Rust ` +
      '(https://rustup.rs) and install from a clone: git clone ' +
      'https://github.com/portway-dev/portway && npm install ./portway/node',
  )
  process.exit(1)
}

console.error('portway: building the native addon from bindings/node (napi CLI, cargo --release)')
// A package installed as a dependency gets no devDependencies: fetch the pinned napi CLI
// (and the rest of the lockfile) into this package's own node_modules.
if (!hasNapiCli()) npm(['ci', '--ignore-scripts', '--no-audit', '--no-fund'])
npm(['run', 'build'])

if (!loads()) {
  console.error('portway: the addon was built but does not load')
  process.exit(1)
}
