'use strict'
// The Redis store from Node, against a real redis-server of each test's own (startRedis in
// support.js): two Portways on one Redis URL share one registry (an exposure made through one
// is seen and routed by the other's gateway, an unexpose too), concurrent writers from both
// keep one token per port, and a Redis that goes away fails writes with STORE_ERROR while the
// gateway keeps routing what it holds.

const assert = require('node:assert/strict')
const { describe, it, beforeEach, afterEach } = require('node:test')

const { Portway, PortwayError, parsePreviewHost } = require('portway')
const { startHttp, startRedis, freePort, request, hostOf } = require('./support.js')

/** Whether `predicate()` holds within `ms` (polled every few milliseconds). */
async function within(predicate, ms = 5000) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (predicate()) return true
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return predicate()
}

function tokenOf(url) {
  const route = parsePreviewHost(hostOf(url))
  assert.ok(route, url)
  return route.token
}

describe('the Redis store', () => {
  let redis, web
  const gateways = []
  beforeEach(async () => {
    redis = await startRedis()
    web = await startHttp((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end(`hello from ${req.url}`)
    })
  })
  afterEach(async () => {
    for (const g of gateways.splice(0)) await g.close()
    await web.close()
    await redis.kill()
  })

  async function serve(pw) {
    const gateway = await pw.serve({ listen: '127.0.0.1:0' })
    gateways.push(gateway)
    return gateway
  }

  it('an exposure made through one Portway is seen and routed by another', async () => {
    const writer = new Portway({ store: redis.url })
    const reader = new Portway({ store: redis.url })
    const gateway = await serve(reader)
    const sb = writer.sandbox('shared-box')
    const exposed = await sb.exposePort(web.port, { hostname: `localhost:${gateway.port}`, name: 'web' })
    const host = hostOf(exposed.url)

    assert.ok(await within(() => reader.resolve(host).kind === 'upstream'), 'the other Portway never routed it')
    assert.deepEqual(reader.resolve(host), {
      kind: 'upstream',
      sandboxId: 'shared-box',
      port: web.port,
      upstreamHost: '127.0.0.1',
    })
    assert.deepEqual(reader.getSandbox('shared-box'), {
      id: 'shared-box',
      upstreamHost: '127.0.0.1',
      status: 'running',
      exposedPorts: 1,
    })
    const { ports } = await reader.sandbox('shared-box').getExposedPorts(`localhost:${gateway.port}`)
    assert.deepEqual(ports, [{ port: web.port, url: exposed.url, name: 'web', status: 'active' }])
    const res = await request(gateway.localAddr, host, { path: '/hi' })
    assert.equal(res.status, 200)
    assert.equal(res.body, 'hello from /hi')

    // Stopped through one: the other's gateway answers 410; running again: 200.
    await sb.markStopped()
    assert.ok(await within(() => reader.resolve(host).kind === 'stale'))
    assert.equal((await request(gateway.localAddr, host)).status, 410)
    await sb.markRunning()
    assert.ok(await within(() => reader.resolve(host).kind === 'upstream'))
    assert.equal((await request(gateway.localAddr, host)).status, 200)

    // Unexposed through one: gone from the other, whose gateway then answers 404.
    await sb.unexposePort(web.port)
    assert.ok(await within(() => reader.resolve(host).kind === 'denied'), 'still routed')
    assert.equal(reader.getSandbox('shared-box').exposedPorts, 0)
    assert.equal(await reader.sandbox('shared-box').isPortExposed(web.port), false)
    assert.equal((await request(gateway.localAddr, host)).status, 404)

    // Destroyed through one: the other no longer knows the sandbox.
    await sb.destroy()
    assert.ok(await within(() => reader.getSandbox('shared-box') === null))
  })

  it('writes go both ways, and a Portway made later loads what Redis holds', async () => {
    const a = new Portway({ store: redis.url })
    const b = new Portway({ store: redis.url })
    const fromA = await a.sandbox('from-a').exposePort(8080, { hostname: 'localhost' })
    const fromB = await b.sandbox('from-b').exposePort(8080, { hostname: 'localhost' })
    assert.ok(await within(() => b.resolve(hostOf(fromA.url)).kind === 'upstream'))
    assert.ok(await within(() => a.resolve(hostOf(fromB.url)).kind === 'upstream'))
    const later = new Portway({ store: redis.url })
    assert.deepEqual(
      later.sandboxes().map((s) => s.id),
      ['from-a', 'from-b'],
    )
    assert.equal(later.resolve(hostOf(fromA.url)).kind, 'upstream')
    assert.equal(later.resolve(hostOf(fromB.url)).kind, 'upstream')
  })

  it('concurrent writers from two Portways keep one token per port', async () => {
    const a = new Portway({ store: redis.url })
    const b = new Portway({ store: redis.url })
    const ports = Array.from({ length: 30 }, (_, i) => 20000 + i)
    const [sa, sb] = [a.sandbox('busy'), b.sandbox('busy')]
    // Each port exposed by both at once, every call in flight together.
    const results = await Promise.all(
      ports.flatMap((p) => [sa.exposePort(p, { hostname: 'localhost' }), sb.exposePort(p, { hostname: 'localhost' })]),
    )
    const tokens = new Map()
    for (const exposed of results) {
      const token = tokenOf(exposed.url)
      const before = tokens.get(exposed.port)
      if (before !== undefined) assert.equal(token, before, `port ${exposed.port} got two tokens`)
      tokens.set(exposed.port, token)
    }
    assert.deepEqual([...tokens.keys()].sort(), ports)
    assert.equal(new Set(tokens.values()).size, ports.length, 'a token was given to two ports')

    // All stored: a fresh Portway lists every port with the token it was given.
    const fresh = new Portway({ store: redis.url })
    const { ports: listed } = await fresh.sandbox('busy').getExposedPorts('localhost')
    assert.deepEqual(new Map(listed.map((info) => [info.port, tokenOf(info.url)])), tokens)
    // And both writers' copies catch up with all of it.
    for (const p of [a, b]) {
      assert.ok(await within(() => p.getSandbox('busy')?.exposedPorts === ports.length))
    }
  })

  it('Redis gone: writes reject with STORE_ERROR, the gateway keeps routing', async () => {
    const pw = new Portway({ store: redis.url })
    const gateway = await serve(pw)
    const sb = pw.sandbox('kept-box')
    const host = hostOf((await sb.exposePort(web.port, { hostname: 'localhost' })).url)
    assert.equal((await request(gateway.localAddr, host)).status, 200)

    await redis.kill()
    for (let i = 0; i < 5; i++) assert.equal((await request(gateway.localAddr, host)).status, 200)
    await assert.rejects(sb.exposePort(web.port + 1, { hostname: 'localhost' }), (err) => {
      assert.ok(err instanceof PortwayError, String(err))
      assert.equal(err.code, 'STORE_ERROR')
      assert.match(err.message, /unreachable/)
      return true
    })
    // Nothing half-done: the failed exposure is not there, the old one still routes.
    assert.equal(await sb.isPortExposed(web.port + 1), false)
    const res = await request(gateway.localAddr, host, { path: '/still' })
    assert.equal(res.status, 200)
    assert.equal(res.body, 'hello from /still')
  })
})

describe('a Redis store that cannot be reached at construction', () => {
  it('throws STORE_ERROR naming the server', async () => {
    const port = await freePort()
    assert.throws(
      () => new Portway({ store: `redis://127.0.0.1:${port}/0` }),
      (err) => {
        assert.ok(err instanceof PortwayError, String(err))
        assert.equal(err.code, 'STORE_ERROR')
        assert.ok(err.message.includes(`127.0.0.1:${port}`), err.message)
        assert.match(err.message, /unreachable/)
        return true
      },
    )
  })
})
