'use strict'
// Errors: one PortwayError class with the stable codes of tests/vectors/errors.json, for
// synchronous throws and rejected Promises alike; every code a Node user can meet is met
// here and checked with instanceof and .code.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { describe, it, before, after } = require('node:test')

const portway = require('portway')
const { Portway, PortwayError, errorCodes } = portway
const { VECTORS, readJson, startHttp, startWsEcho } = require('./support.js')

const listed = readJson(path.join(VECTORS, 'errors.json')).codes.map((c) => c.code)
const met = new Set()

/** Asserts that `fn` throws (or its Promise rejects with) a PortwayError with `code`. */
async function expectCode(code, fn, extra = () => {}) {
  let err
  try {
    await fn()
  } catch (e) {
    err = e
  }
  assert.ok(err, `expected ${code}, nothing was thrown`)
  assert.ok(err instanceof PortwayError, `expected a PortwayError (${code}), got ${err && err.stack}`)
  assert.ok(err instanceof Error)
  assert.equal(err.code, code, err.message)
  assert.equal(err.name, 'PortwayError')
  assert.ok(err.message.length > 0)
  assert.ok(typeof err.stack === 'string')
  extra(err)
  met.add(code)
  return err
}

/** Asserts that `fn` throws synchronously (not through a Promise). */
function expectThrow(code, fn) {
  assert.throws(fn, (err) => err instanceof PortwayError && err.code === code)
  met.add(code)
}

async function freePort() {
  const srv = net.createServer()
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address()
  await new Promise((resolve) => srv.close(resolve))
  return port
}

describe('the error codes', () => {
  it('are exactly those of errors.json, in errorCodes() and in the ErrorCode type', () => {
    assert.ok(listed.length > 0)
    assert.deepEqual(errorCodes(), listed)
    const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')
    const union = /export type ErrorCode =([^]*?)\n\n/.exec(dts)[1]
    assert.deepEqual([...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]), listed)
  })

  it('PortwayError is an Error class a user can construct and subclass', () => {
    const err = new PortwayError('boom', 'INVALID_PORT')
    assert.ok(err instanceof Error)
    assert.equal(err.message, 'boom')
    assert.equal(err.code, 'INVALID_PORT')
    assert.equal(err.name, 'PortwayError')
    assert.equal(err.status, undefined)
    class Mine extends PortwayError {}
    assert.ok(new Mine('x', 'WS_ERROR') instanceof PortwayError)
  })
})

describe('every code a Node user can meet', () => {
  let echo, http, silent, silentSockets
  before(async () => {
    echo = await startWsEcho()
    http = await startHttp((req, res) => {
      res.writeHead(404)
      res.end()
    })
    // Accepts connections and never answers: a handshake that never completes.
    silentSockets = new Set()
    silent = net.createServer((s) => {
      s.resume()
      silentSockets.add(s)
    })
    await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve))
  })
  after(async () => {
    await echo.close()
    await http.close()
    for (const s of silentSockets) s.destroy()
    await new Promise((resolve) => silent.close(resolve))
  })

  it('INVALID_PORT: out of range, reserved, fractional, NaN, negative, not a number', async () => {
    const sb = new Portway().sandbox('box')
    const bad = [0, 80, 1023, 3000, 65536, 73616, -1, -57456, 8080.5, NaN, Infinity, -Infinity, 2 ** 53, '8080', '', null, undefined, true, [8080], { port: 8080 }, 1n << 70n, -8080n, Symbol('port'), () => 8080]
    for (const port of bad) {
      expectThrow('INVALID_PORT', () => portway.validatePort(port))
      expectThrow('INVALID_PORT', () => portway.buildPreviewUrl(port, 'box', 'token123', 'localhost'))
      await expectCode('INVALID_PORT', () => sb.exposePort(port, { hostname: 'localhost' }))
      await expectCode('INVALID_PORT', () => sb.unexposePort(port))
      await expectCode('INVALID_PORT', () => sb.waitForPort(port, { timeoutMs: 10 }))
      await expectCode('INVALID_PORT', () => sb.wsConnect(port))
    }
    const err = await expectCode('INVALID_PORT', () => sb.exposePort(8080.5, { hostname: 'localhost' }))
    assert.equal(err.message, 'Invalid port number: 8080.5. Must be 1024-65535, excluding 3000 (sandbox control plane).')
    await expectCode('INVALID_PORT', () => sb.exposePort('8080', { hostname: 'localhost' }), (e) =>
      assert.match(e.message, /^Invalid port number: '8080'\./),
    )
    await expectCode('INVALID_PORT', () => sb.exposePort(1n << 70n, { hostname: 'localhost' }), (e) =>
      assert.match(e.message, /^Invalid port number: 1180591620717411303424n\./),
    )
  })

  it('INVALID_SANDBOX_ID', () => {
    const pw = new Portway()
    for (const id of ['', 'My-Box', '-box', 'box-', 'www', 'a_b', 'x'.repeat(64)]) {
      expectThrow('INVALID_SANDBOX_ID', () => pw.sandbox(id))
      expectThrow('INVALID_SANDBOX_ID', () => portway.validateSandboxId(id))
    }
  })

  it('INVALID_HOSTNAME, CUSTOM_DOMAIN_REQUIRED, PREVIEW_LABEL_TOO_LONG, DOMAIN_NOT_CONFIGURED', async () => {
    const sb = new Portway({ domains: ['localhost'] }).sandbox('x'.repeat(50))
    expectThrow('INVALID_HOSTNAME', () => portway.buildPreviewUrl(8080, 'box', 'token123', 'http://example.com/'))
    await expectCode('INVALID_HOSTNAME', () => sb.exposePort(8080, { hostname: '10.0.0.1' }))
    await expectCode('INVALID_HOSTNAME', () => sb.getExposedPorts('bad host'))
    expectThrow('CUSTOM_DOMAIN_REQUIRED', () => portway.buildPreviewUrl(8080, 'box', 'token123', 'my.workers.dev'))
    await expectCode('CUSTOM_DOMAIN_REQUIRED', () => sb.exposePort(8080, { hostname: 'my.workers.dev' }))
    await expectCode('PREVIEW_LABEL_TOO_LONG', () => sb.exposePort(8080, { hostname: 'localhost' }))
    await expectCode('DOMAIN_NOT_CONFIGURED', () => sb.exposePort(8080, { hostname: 'example.com' }))
    await expectCode('DOMAIN_NOT_CONFIGURED', () => sb.getExposedPorts('example.com'))
  })

  it('INVALID_TOKEN_FORMAT and TOKEN_IN_USE', async () => {
    const sb = new Portway().sandbox('box')
    expectThrow('INVALID_TOKEN_FORMAT', () => portway.validateToken('short'))
    expectThrow('INVALID_TOKEN_FORMAT', () => portway.validateToken('UPPERCASE_TOKEN'))
    await expectCode('INVALID_TOKEN_FORMAT', () => sb.exposePort(8080, { hostname: 'localhost', token: 'has-dash-x' }), (e) =>
      assert.ok(!e.message.includes('has-dash-x'), 'the message never repeats the token'),
    )
    await sb.exposePort(8080, { hostname: 'localhost', token: 'shared_tok' })
    await expectCode('TOKEN_IN_USE', () => sb.exposePort(8081, { hostname: 'localhost', token: 'shared_tok' }), (e) =>
      assert.equal(e.message, "Token 'shared_tok' is already in use by port 8080. Please use a different token."),
    )
  })

  it('INVALID_PORT_NAME and INVALID_UPSTREAM_HOST', async () => {
    const pw = new Portway()
    await expectCode('INVALID_PORT_NAME', () => pw.sandbox('box').exposePort(8080, { hostname: 'localhost', name: '' }))
    await expectCode('INVALID_PORT_NAME', () => pw.sandbox('box').exposePort(8080, { hostname: 'localhost', name: 'a\nb' }))
    expectThrow('INVALID_UPSTREAM_HOST', () => pw.sandbox('box', { upstreamHost: '10.0.0.7:8080' }))
    expectThrow('INVALID_UPSTREAM_HOST', () => pw.sandbox('box', { upstreamHost: 'http://x' }))
  })

  it('UPSTREAM_FORBIDDEN: the metadata address, a denied network, the gateway\'s own port', async () => {
    const pw = new Portway()
    expectThrow('UPSTREAM_FORBIDDEN', () => pw.sandbox('box', { upstreamHost: '169.254.169.254' }))
    expectThrow('UPSTREAM_FORBIDDEN', () => new Portway({ gateway: { upstreamDeny: ['10.0.0.0/8'] } }).sandbox('box', { upstreamHost: '10.0.0.7' }))
    const gateway = await pw.serve({ listen: '127.0.0.1:0' })
    try {
      await expectCode('UPSTREAM_FORBIDDEN', () => pw.sandbox('box').exposePort(gateway.port, { hostname: 'localhost' }))
    } finally {
      await gateway.close()
    }
  })

  it('INVALID_CONFIG', () => {
    for (const options of [
      { domains: [] },
      { reservedPorts: [70000] },
      { reservedPorts: [3000.5] },
      { minTokenLength: 17 },
      { minTokenLength: 8.5 },
      { minTokenLength: NaN },
      { domains: ['my.workers.dev'] },
      { gateway: { maxHeadSize: 100 } },
      { gateway: { maxConnections: 0 } },
      { gateway: { maxConnections: 1.5 } },
      { gateway: { idleTimeoutMs: -1 } },
      { gateway: { idleTimeoutMs: 0 } },
      { gateway: { connectTimeoutMs: NaN } },
      { gateway: { forwardedProto: 'ftp' } },
      { gateway: { upstreamAllow: ['10.0.0.0/33'] } },
      { gateway: { trustedProxies: 'not a list' } },
      { gateway: { proxyProtocol: true } },
      { gateway: { referrerPolicy: 'same-origin,' } },
      { gateway: { referrerPolicy: 'Unsafe-URL' } },
    ]) {
      expectThrow('INVALID_CONFIG', () => new Portway(options))
    }
    expectThrow('INVALID_HOSTNAME', () => new Portway({ domains: ['bad domain'] }))
  })

  it('INVALID_ARGUMENT', async () => {
    // The URL functions take strings; anything else is named, with its kind.
    for (const [value, kind] of [[12, 'a number'], [undefined, 'undefined'], [null, 'null'], [{}, 'an object'], [Symbol('s'), 'a symbol'], [8n, 'a bigint'], [true, 'a boolean']]) {
      for (const [i, name] of ['sandboxId', 'token', 'hostname'].entries()) {
        const args = [8080, 'box', 'token123', 'localhost']
        args[i + 1] = value
        assert.throws(() => portway.buildPreviewUrl(...args), { code: 'INVALID_ARGUMENT', message: `${name} must be a string, not ${kind}` })
      }
      assert.throws(() => portway.parsePreviewHost(value), { code: 'INVALID_ARGUMENT', message: `host must be a string, not ${kind}` })
    }
    assert.throws(() => portway.buildPreviewUrl(8080, 'box', 'token123'), { code: 'INVALID_ARGUMENT', message: 'hostname must be a string, not undefined' })
    expectThrow('INVALID_ARGUMENT', () => portway.parsePreviewHost())
    const sb = new Portway().sandbox('box')
    const port = http.port
    for (const options of [
      { mode: 'udp' },
      { path: 'no-slash' },
      { status: [500, 200] },
      { status: [200] },
      { status: { min: 200 } },
      { status: 'ok' },
      { status: [200.5, 300] },
      { timeoutMs: 0 },
      { timeoutMs: -5 },
      { intervalMs: NaN },
      { signal: {} },
    ]) {
      await expectCode('INVALID_ARGUMENT', () => sb.waitForPort(port, options))
    }
    await expectCode('INVALID_ARGUMENT', () => sb.wsConnect(echo.port, { path: 'no-slash' }))
    await expectCode('INVALID_ARGUMENT', () => sb.wsConnect(echo.port, { headers: { 'bad header': 'x' } }))
    await expectCode('INVALID_ARGUMENT', () => sb.wsConnect(echo.port, { maxMessageSize: -1 }))
    const ws = await sb.wsConnect(echo.port)
    await expectCode('INVALID_ARGUMENT', () => ws.close(999, 'bad code'))
    await expectCode('INVALID_ARGUMENT', () => ws.close(1000, 'x'.repeat(124)))
    await expectCode('INVALID_ARGUMENT', () => ws.close(1000.5))
    await ws.close()
    const gateway = await new Portway().serve({ listen: '127.0.0.1:0' })
    await expectCode('INVALID_ARGUMENT', () => gateway.shutdown(-1))
    await gateway.close()
  })

  it('PORT_WAIT_TIMEOUT', async () => {
    const sb = new Portway().sandbox('box')
    await expectCode('PORT_WAIT_TIMEOUT', () => sb.waitForPort(http.port, { timeoutMs: 1000, intervalMs: 50 }), (e) =>
      assert.match(e.message, /^Port \d+ of sandbox 'box' was not ready within 1s \(http mode\)/),
    )
    const nothing = await freePort()
    await expectCode('PORT_WAIT_TIMEOUT', () => sb.waitForPort(nothing, { mode: 'tcp', timeoutMs: 200 }))
  })

  it('WS_CONNECT_FAILED, with .status when the service answered', async () => {
    const sb = new Portway().sandbox('box')
    await expectCode('WS_CONNECT_FAILED', () => sb.wsConnect(echo.port, { path: '/forbidden' }), (e) =>
      assert.equal(e.status, 403),
    )
    await expectCode('WS_CONNECT_FAILED', () => sb.wsConnect(http.port), (e) => assert.equal(e.status, 404))
    const nothing = await freePort()
    await expectCode('WS_CONNECT_FAILED', () => sb.wsConnect(nothing), (e) => assert.equal(e.status, undefined))
    await expectCode('WS_CONNECT_FAILED', () => sb.wsConnect(silent.address().port, { connectTimeoutMs: 200 }), (e) =>
      assert.equal(e.status, undefined),
    )
  })

  it('WS_CLOSED and WS_ERROR', async () => {
    const sb = new Portway().sandbox('box')
    const ws = await sb.wsConnect(echo.port, { maxMessageSize: 1024 })
    await expectCode('WS_ERROR', () => ws.send('x'.repeat(2048)))
    await ws.send('close:1000:done')
    assert.equal(await ws.recv(), null)
    await expectCode('WS_CLOSED', () => ws.send('after close'))
  })

  it('STORE_ERROR', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portway-node-'))
    try {
      expectThrow('STORE_ERROR', () => new Portway({ store: dir }))
      expectThrow('STORE_ERROR', () => new Portway({ store: path.join(dir, 'missing', 'x.db') }))
      const store = path.join(dir, 'held.db')
      const holder = new Portway({ store })
      expectThrow('STORE_ERROR', () => new Portway({ store }))
      assert.ok(holder)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('GATEWAY_ERROR', async () => {
    const pw = new Portway()
    const first = await pw.serve({ listen: '127.0.0.1:0' })
    await expectCode('GATEWAY_ERROR', () => pw.serve({ listen: first.localAddr }))
    await expectCode('GATEWAY_ERROR', () => pw.serve({ listen: 'not an address' }))
    await first.close()
  })

  it('met every code of errors.json but SANDBOX_NOT_FOUND (the server admin API only)', () => {
    const unmet = listed.filter((c) => !met.has(c))
    assert.deepEqual(unmet, ['SANDBOX_NOT_FOUND'])
  })
})
