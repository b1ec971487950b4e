'use strict'
// Runs every case of every file in tests/vectors (read from the repository, never copied)
// against the Node API, with the runner semantics of tests/vectors/README.md. dynamic_only
// cases run too: JavaScript can pass any value where a port goes, and must get INVALID_PORT.
// gateway.json's runner is gateway-vectors.js.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { describe, it, after } = require('node:test')

const portway = require('portway')
const { Portway, PortwayError } = portway
const { VECTORS, readJson } = require('./support.js')
const { runGateway, stopFixture } = require('./gateway-vectors.js')

const RUNNERS = {
  'ports.json': runPorts,
  'sandbox_ids.json': runSandboxIds,
  'tokens.json': runTokens,
  'preview_urls.json': runPreviewUrls,
  'preview_hosts.json': runPreviewHosts,
  'flows.json': runFlow,
  'gateway.json': (c, ctx) => runGateway(c, ctx, CONFIG_KEYS),
}

const CONFIG_KEYS = {
  domains: 'domains',
  reserved_ports: 'reservedPorts',
  reserved_sandbox_ids: 'reservedSandboxIds',
  custom_domain_suffixes: 'customDomainSuffixes',
  normalize_id: 'normalizeId',
  min_token_length: 'minTokenLength',
}

/** An in-memory Portway with a case's `config` (snake_case keys, as the README lists them). */
function portwayFor(config) {
  const options = { store: ':memory:' }
  for (const [key, value] of Object.entries(config)) {
    assert.ok(key in CONFIG_KEYS, `unknown config key ${key}`)
    options[CONFIG_KEYS[key]] = value
  }
  return new Portway(options)
}

/** Variables of a flow: `{t1}` binds to a generated token the first time it is expected. */
class Vars {
  constructor() {
    this.values = new Map()
  }

  subst(s) {
    return s.replace(/\{([a-z0-9]+)\}/gi, (_, name) => {
      assert.ok(this.values.has(name), `unbound variable {${name}} in ${JSON.stringify(s)}`)
      return this.values.get(name)
    })
  }

  matchStr(template, got) {
    let t = template
    let g = got
    const bound = []
    const fail = (why) => {
      for (const name of bound) this.values.delete(name)
      return why
    }
    for (let i = t.indexOf('{'); i >= 0; i = t.indexOf('{')) {
      const j = t.indexOf('}', i)
      if (j < 0) return fail('unclosed variable')
      if (!g.startsWith(t.slice(0, i))) return fail(`${JSON.stringify(got)} does not match ${JSON.stringify(template)}`)
      g = g.slice(i)
      const name = t.slice(i + 1, j)
      let value = this.values.get(name)
      if (value === undefined) {
        value = g.slice(0, 16)
        if (!/^[a-z0-9]{16}$/.test(value)) return fail(`${JSON.stringify(value)} is not a generated token`)
        bound.push(name)
        this.values.set(name, value)
      }
      if (!g.startsWith(value)) return fail(`${JSON.stringify(got)} does not match ${JSON.stringify(template)} with {${name}}=${value}`)
      g = g.slice(value.length)
      t = t.slice(j + 1)
    }
    return t === g ? null : fail(`${JSON.stringify(got)} does not match ${JSON.stringify(template)}`)
  }

  /** null when `got` matches `want`, else why not. */
  matches(want, got) {
    if (typeof want === 'string' && typeof got === 'string') return this.matchStr(want, got)
    if (Array.isArray(want)) {
      if (!Array.isArray(got) || got.length !== want.length) return 'arrays differ'
      for (let i = 0; i < want.length; i++) {
        const why = this.matches(want[i], got[i])
        if (why) return `[${i}]: ${why}`
      }
      return null
    }
    if (want !== null && typeof want === 'object') {
      if (got === null || typeof got !== 'object' || Array.isArray(got)) return 'not an object'
      if (Object.keys(want).length !== Object.keys(got).length) {
        return `fields differ: ${Object.keys(got).join(', ')}`
      }
      for (const [k, w] of Object.entries(want)) {
        if (!(k in got)) return `missing field ${k}`
        const why = this.matches(w, got[k])
        if (why) return `${k}: ${why}`
      }
      return null
    }
    return Object.is(want, got) ? null : 'values differ'
  }
}

/** Compares a call's outcome (`run` returns a value or throws) with a case's `expect`. */
async function check(ctx, expect, run, vars = new Vars()) {
  const hasOk = 'ok' in expect
  assert.ok(hasOk !== ('error' in expect), `${ctx}: expect must have exactly one of ok and error`)
  let got
  try {
    got = { value: await run() }
  } catch (err) {
    got = { err }
  }
  if (hasOk) {
    if (got.err) assert.fail(`${ctx}: expected ${JSON.stringify(expect.ok)}, got ${got.err.code} ${got.err.message}`)
    const why = vars.matches(expect.ok, got.value)
    assert.equal(why, null, `${ctx}: expected ${JSON.stringify(expect.ok)}, got ${JSON.stringify(got.value)}`)
    return
  }
  if (!got.err) assert.fail(`${ctx}: expected error ${expect.error}, got ${JSON.stringify(got.value)}`)
  const err = got.err
  assert.ok(err instanceof PortwayError, `${ctx}: not a PortwayError: ${err && err.stack}`)
  assert.ok(err instanceof Error, `${ctx}: not an Error`)
  assert.equal(err.code, expect.error, `${ctx}: wrong code (${err.message})`)
  if ('message' in expect) assert.equal(err.message, vars.subst(expect.message), `${ctx}: message`)
  for (const part of expect.message_contains ?? []) {
    assert.ok(err.message.includes(part), `${ctx}: message ${JSON.stringify(err.message)} lacks ${JSON.stringify(part)}`)
  }
}

function routeJson(r) {
  return r === null ? null : { port: r.port, sandbox_id: r.sandboxId, token: r.token }
}

function resolutionJson(r) {
  const out = { kind: r.kind }
  if (r.sandboxId !== undefined) out.sandbox_id = r.sandboxId
  if (r.port !== undefined) out.port = r.port
  if (r.upstreamHost !== undefined) out.upstream_host = r.upstreamHost
  return out
}

function runPorts(c, ctx) {
  const port = c.input.port
  if (c.dynamic_only) assert.ok(!Number.isInteger(port), `${ctx}: an integer is not dynamic_only`)
  const call = c.config ? () => portwayFor(c.config).validatePort(port) : () => portway.validatePort(port)
  return check(ctx, c.expect, call)
}

function runSandboxIds(c, ctx) {
  const id = c.input.id
  const call = c.config ? () => portwayFor(c.config).validateSandboxId(id) : () => portway.validateSandboxId(id)
  return check(ctx, c.expect, call)
}

function runTokens(c, ctx) {
  const token = c.input.token
  const call = c.config ? () => portwayFor(c.config).validateToken(token) : () => portway.validateToken(token)
  return check(ctx, c.expect, call)
}

function runPreviewUrls(c, ctx) {
  const { port, sandbox_id: id, token, hostname } = c.input
  const call = c.config
    ? () => portwayFor(c.config).buildPreviewUrl(port, id, token, hostname)
    : () => portway.buildPreviewUrl(port, id, token, hostname)
  return check(ctx, c.expect, call)
}

function runPreviewHosts(c, ctx) {
  const host = c.input.host
  const call = c.config
    ? () => routeJson(portwayFor(c.config).parsePreviewHost(host))
    : () => routeJson(portway.parsePreviewHost(host))
  return check(ctx, c.expect, call)
}

async function runStep(pw, step, vars) {
  const text = (k) => (typeof step[k] === 'string' ? vars.subst(step[k]) : undefined)
  if (step.op === 'resolve') return resolutionJson(pw.resolve(text('host')))
  const sb = pw.sandbox(step.sandbox, { upstreamHost: step.upstream_host ?? '127.0.0.1' })
  switch (step.op) {
    case 'sandbox':
      return sb.id
    case 'expose': {
      const e = await sb.exposePort(step.port, { hostname: text('hostname'), name: text('name'), token: text('token') })
      assert.equal(e.exposedAt, e.url, 'exposedAt is the URL')
      return { port: e.port, url: e.url, name: e.name }
    }
    case 'unexpose':
      assert.equal(await sb.unexposePort(step.port), undefined)
      return null
    case 'list': {
      const { ports } = await sb.getExposedPorts(text('hostname'))
      return ports.map((p) => ({ port: p.port, url: p.url, name: p.name, status: p.status }))
    }
    case 'is_exposed':
      return sb.isPortExposed(step.port)
    case 'validate_token':
      return sb.validatePortToken(step.port, text('token'))
    case 'mark_running':
      await sb.markRunning()
      return null
    case 'mark_stopped':
      await sb.markStopped()
      return null
    case 'destroy':
      await sb.destroy()
      return null
    default:
      throw new Error(`unknown op ${step.op}`)
  }
}

async function runFlow(c, ctx) {
  const pw = portwayFor(c.config ?? {})
  const vars = new Vars()
  assert.ok(Array.isArray(c.steps) && c.steps.length > 0, `${ctx}: no steps`)
  for (const [i, step] of c.steps.entries()) {
    await check(`${ctx} step ${i} (${step.op})`, step.expect, () => runStep(pw, step, vars), vars)
  }
}

const files = fs
  .readdirSync(VECTORS)
  .filter((f) => f.endsWith('.json') && f !== 'errors.json')
  .sort()
const counts = {}

it('every vector file has a runner, and every runner its file', () => {
  assert.deepEqual(files, Object.keys(RUNNERS).sort())
})

for (const file of files) {
  const doc = readJson(path.join(VECTORS, file))
  const cases = doc.cases
  describe(file, () => {
    it('has cases', () => {
      assert.ok(Array.isArray(cases) && cases.length > 0, `${file} has no cases`)
    })
    for (const c of cases ?? []) {
      it(c.name, async () => {
        const run = RUNNERS[file]
        assert.ok(run, `no runner for ${file}`)
        await run(c, `${file} ${c.name}`)
        counts[file] = (counts[file] ?? 0) + 1
      })
    }
  })
}

after(async () => {
  await stopFixture()
  const total = Object.values(counts).reduce((a, b) => a + b, 0)
  const dynamic = readJson(path.join(VECTORS, 'ports.json')).cases.filter((c) => c.dynamic_only).length
  console.log(
    `vectors run: ${total} (${Object.entries(counts)
      .map(([f, n]) => `${f} ${n}`)
      .join(', ')}; ${dynamic} dynamic_only ports cases included)`,
  )
})
