'use strict'
// The runner of tests/vectors/gateway.json (the format is in tests/vectors/README.md, section
// "Gateway"), used by vectors.test.js: a fresh Portway and its gateway per case, in front of
// the fixture service (tests/fixture, started once), each request written as raw HTTP/1.1
// bytes on a `net` socket, so that no client library normalises the Host or the headers.

const assert = require('node:assert/strict')
const net = require('node:net')
const path = require('node:path')

const { Portway } = require('portway')
const { REPO, readJson, startFixture, freePort } = require('./support.js')

/** The core's gateway option names → Node's, and which are durations (seconds → ms). */
const OPTIONS = new Map(
  readJson(path.join(REPO, 'tests', 'api', 'parity.json')).options.GatewayConfig.map((o) => [o.rust, o]),
)

let fixture
/** The fixture service, started on first use; `stopFixture` ends it. */
async function fixturePort() {
  fixture ??= startFixture()
  return (await fixture).port
}

async function stopFixture() {
  if (fixture) await (await fixture).stop()
  fixture = undefined
}

function portwayFor(c, configKeys) {
  const options = { store: ':memory:', gateway: {} }
  for (const [key, value] of Object.entries(c.config ?? {})) {
    assert.ok(key in configKeys, `unknown config key ${key}`)
    options[configKeys[key]] = value
  }
  for (const [key, value] of Object.entries(c.gateway ?? {})) {
    const option = OPTIONS.get(key)
    assert.ok(option, `unknown gateway option ${key}`)
    options.gateway[option.node] = option.kind === 'duration' ? value * 1000 : value
  }
  return new Portway(options)
}

function subst(s, vars) {
  return s.replace(/\{(fixture|closed|gateway)\}/g, (_, name) => String(vars[name]))
}

function requestBytes(req, vars) {
  let head = `${req.method} ${subst(req.target, vars)} HTTP/1.1\r\n`
  if ('host' in req) head += `host: ${subst(req.host, vars)}\r\n`
  let framed = false
  for (const [name, value] of req.headers ?? []) {
    framed ||= ['content-length', 'transfer-encoding'].includes(name.toLowerCase())
    head += `${name}: ${subst(value, vars)}\r\n`
  }
  const body = Buffer.from(req.body ?? '')
  if ('body' in req && !framed) head += `content-length: ${body.length}\r\n`
  return Buffer.concat([Buffer.from(head + '\r\n'), body])
}

/**
 * Parses one response from `buf` (everything read so far; `ended` once the peer closed):
 * `{ status, headers, body }`, or null while more bytes are needed.
 */
function parseReply(buf, ended, headRequest) {
  const end = buf.indexOf('\r\n\r\n')
  if (end < 0) {
    assert.ok(!ended, `the connection closed before a response head: ${buf}`)
    return null
  }
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n')
  const status = Number(lines[0].slice(9, 12))
  const headers = lines.slice(1).map((l) => {
    const i = l.indexOf(':')
    return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()]
  })
  const values = (name) => headers.filter(([n]) => n === name).map(([, v]) => v)
  const reply = { status, headers, body: Buffer.alloc(0) }
  let rest = buf.subarray(end + 4)
  if (headRequest || status < 200 || status === 204 || status === 304) return reply
  if (values('transfer-encoding').join() === 'chunked') {
    const parts = []
    for (;;) {
      const eol = rest.indexOf('\r\n')
      if (eol < 0) return ended ? assert.fail('cut inside a chunk size') : null
      const size = parseInt(rest.subarray(0, eol).toString().split(';')[0].trim(), 16)
      if (rest.length < eol + 2 + size + 2) return ended ? assert.fail('cut inside a chunk') : null
      if (size === 0) break // no trailers in these cases
      parts.push(rest.subarray(eol + 2, eol + 2 + size))
      rest = rest.subarray(eol + 2 + size + 2)
    }
    reply.body = Buffer.concat(parts)
  } else if (values('content-length').length > 0) {
    const len = Number(values('content-length')[0])
    if (rest.length < len) return ended ? assert.fail('cut before Content-Length') : null
    reply.body = rest.subarray(0, len)
  } else {
    if (!ended) return null
    reply.body = rest
  }
  return reply
}

/** Sends the bytes on a new connection to `port` and reads one response. */
function exchange(port, bytes, headRequest) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let buf = Buffer.alloc(0)
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error('no response within 10 s'))
    }, 10_000)
    const attempt = (ended) => {
      let reply
      try {
        reply = parseReply(buf, ended, headRequest)
      } catch (e) {
        reply = e
      }
      if (reply === null) return
      clearTimeout(timer)
      socket.destroy()
      if (reply instanceof Error) reject(reply)
      else resolve(reply)
    }
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      attempt(false)
    })
    socket.on('end', () => attempt(true))
    socket.on('error', reject)
    socket.write(bytes)
  })
}

function checkHeaders(ctx, values, want = {}, absent = [], vars) {
  for (const [name, value] of Object.entries(want)) {
    const expected = (Array.isArray(value) ? value : [value]).map((v) => subst(v, vars))
    assert.deepEqual(values(name), expected, `${ctx}: header ${name}`)
  }
  for (const name of absent) {
    assert.deepEqual(values(name), [], `${ctx}: ${name} is present`)
  }
}

function check(ctx, expect, reply, vars) {
  const text = reply.body.toString('utf8')
  assert.equal(reply.status, expect.status, `${ctx}: status (${JSON.stringify(reply.headers)} ${text})`)
  const values = (name) => reply.headers.filter(([n]) => n === name.toLowerCase()).map(([, v]) => v)
  checkHeaders(ctx, values, expect.headers, expect.headers_absent, vars)
  if ('code' in expect) {
    const body = JSON.parse(text)
    assert.equal(body.code, expect.code, `${ctx}: code in ${text}`)
    if ('message' in expect) assert.equal(body.error, expect.message, `${ctx}: message in ${text}`)
  }
  if ('body' in expect) assert.equal(text, subst(expect.body, vars), `${ctx}: body`)
  for (const part of expect.body_contains ?? []) {
    assert.ok(text.includes(subst(part, vars)), `${ctx}: body lacks ${part}: ${text}`)
  }
  if ('body_len' in expect) assert.equal(reply.body.length, expect.body_len, `${ctx}: body length`)
  const want = expect.sandbox
  if (want) {
    const saw = JSON.parse(text)
    for (const key of ['method', 'path', 'body']) {
      if (key in want) assert.equal(saw[key], subst(want[key], vars), `${ctx}: the sandbox's ${key}`)
    }
    const seen = saw.headers
    const seenValues = (name) => seen.filter(([n]) => n === name.toLowerCase()).map(([, v]) => v)
    const sctx = `${ctx}: the sandbox's headers ${JSON.stringify(seen)}`
    checkHeaders(sctx, seenValues, want.headers, want.headers_absent, vars)
    if (want.header_list) {
      // A null value: the header is there, with any value (a random hop marker).
      const exact = want.header_list.map(([n, v], i) => [n, v === null && seen[i] ? seen[i][1] : subst(v, vars)])
      assert.deepEqual(seen, exact, `${sctx}: the sandbox's header list`)
    }
  }
}

async function setUp(pw, c, vars) {
  const domain = c.config?.domains?.[0] ?? 'localhost'
  for (const sb of c.sandboxes ?? []) {
    const handle = pw.sandbox(sb.id, '127.0.0.1')
    for (const p of sb.ports) {
      assert.ok(p.port in vars, `unknown port ${p.port}`)
      await handle.exposePort(vars[p.port], { hostname: domain, token: p.token })
    }
    const status = sb.status ?? 'running'
    if (status === 'stopped') await handle.markStopped()
    else if (status === 'destroyed') await handle.destroy()
    else assert.equal(status, 'running', `unknown status ${status}`)
  }
}

/** Runs one case of gateway.json; `configKeys` maps the vectors' config keys to Node's. */
async function runGateway(c, ctx, configKeys) {
  const pw = portwayFor(c, configKeys)
  const gateway = await pw.serve({ listen: '127.0.0.1:0' })
  try {
    const vars = { fixture: await fixturePort(), closed: await freePort(), gateway: gateway.port }
    await setUp(pw, c, vars)
    const reply = await exchange(gateway.port, requestBytes(c.request, vars), c.request.method === 'HEAD')
    check(ctx, c.expect, reply, vars)
  } finally {
    await gateway.shutdown(100)
  }
}

module.exports = { runGateway, stopFixture }
