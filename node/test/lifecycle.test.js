'use strict'
// Sandbox lifecycle from Node: activity, idle events, the events stream (an async iterable)
// and the wake hook of `serve`, against the fixture service (tests/fixture) on 127.0.0.1,
// started late by the hook where a test says so (docs/spec/lifecycle.md).

const assert = require('node:assert/strict')
const { describe, it } = require('node:test')
const { WebSocket: WsClient } = require('ws')

const { Portway, PortwayError } = require('portway')
const { startFixture, freePort, request, hostOf } = require('./support.js')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A Portway and a gateway with `gateway` options and `wake`. */
async function setup({ gateway = {}, wake } = {}) {
  const pw = new Portway({ domains: ['localhost'], gateway })
  const gw = await pw.serve({ listen: '127.0.0.1:0', wake })
  const expose = async (id, port) => {
    const { url } = await pw.sandbox(id).exposePort(port, { hostname: `localhost:${gw.port}` })
    return hostOf(url)
  }
  return { pw, gw, expose, get: (host, opts) => request(gw.localAddr, host, opts) }
}

function wsOpen(addr, host, path = '/ws') {
  const ws = new WsClient(`ws://${addr}${path}`, { headers: { host } })
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

async function nextEvent(events, ms = 5000) {
  const event = await Promise.race([events.next(), sleep(ms).then(() => 'timeout')])
  assert.notEqual(event, 'timeout', 'an event in time')
  return event
}

async function until(check, ms = 5000) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (check()) return true
    await sleep(20)
  }
  return check()
}

describe('activity', () => {
  it('counts requests, bytes and WebSocket messages, in all and per port', async () => {
    const fixture = await startFixture()
    const { pw, gw, expose, get } = await setup()
    try {
      const host = await expose('box', fixture.port)
      const sb = pw.sandbox('box')
      assert.deepEqual(sb.activity(), {
        sandboxId: 'box',
        openConnections: 0,
        websocketSessions: 0,
        requests: 0,
        bytesReceived: 0,
        bytesSent: 0,
        lastActivityAt: null,
      })
      assert.equal((await get(host, { method: 'POST', path: '/echo', body: 'x'.repeat(1000) })).status, 200)
      assert.equal((await get(host, { path: '/bytes/5000' })).body.length, 5000)
      const a = sb.activity()
      assert.equal(a.requests, 2)
      assert.ok(a.bytesReceived >= 1000 && a.bytesSent >= 5000, JSON.stringify(a))
      assert.ok(Math.abs(Date.now() - Date.parse(a.lastActivityAt)) < 60_000)
      const ports = sb.portActivity()
      assert.deepEqual(ports.map((p) => p.port), [fixture.port])
      assert.equal(ports[0].bytesSent, a.bytesSent)

      const ws = await wsOpen(gw.localAddr, host)
      assert.ok(await until(() => sb.activity().websocketSessions === 1))
      const opened = sb.activity()
      ws.send('hello')
      await new Promise((resolve) => ws.once('message', resolve))
      const after = sb.activity()
      assert.ok(after.bytesReceived > opened.bytesReceived)
      assert.ok(after.bytesSent > opened.bytesSent)
      ws.close()
      assert.ok(await until(() => sb.activity().openConnections === 0))
    } finally {
      await gw.close()
      await fixture.stop()
    }
  })
})

describe('events', () => {
  it('are the registry changes, in order, and leaving the loop closes the stream', async () => {
    const pw = new Portway({ domains: ['localhost'] })
    const events = pw.events()
    const sb = pw.sandbox('box')
    await sb.exposePort(4000, { hostname: 'localhost' })
    await sb.markStopped()
    await sb.markRunning()
    await sb.unexposePort(4000)
    await sb.destroy()
    const seen = []
    for await (const event of events) {
      assert.equal(event.sandboxId, 'box')
      assert.ok(event.time.endsWith('Z'))
      seen.push([event.kind, event.port])
      if (event.kind === 'destroyed') break
    }
    assert.deepEqual(seen, [
      ['exposed', 4000],
      ['stopped', null],
      ['running', null],
      ['unexposed', 4000],
      ['destroyed', null],
    ])
    assert.equal(events.closed, true)
    assert.equal(await events.next(), null)
  })

  it('fire idle once, and again only after new traffic', async () => {
    const fixture = await startFixture()
    const { pw, gw, expose, get } = await setup({ gateway: { idleAfterMs: 300 } })
    try {
      const host = await expose('box', fixture.port)
      const events = pw.events()
      const start = Date.now()
      const e = await nextEvent(events)
      assert.deepEqual([e.kind, e.sandboxId], ['idle', 'box'])
      assert.ok(Date.now() - start >= 200)
      const none = await Promise.race([events.next(), sleep(700).then(() => 'none')])
      assert.equal(none, 'none')
      // New traffic: another idle period, and another idle (on a new stream; closing the
      // first ends the next() the race above left waiting).
      events.close()
      assert.equal((await get(host)).status, 200)
      const again = pw.events()
      assert.equal((await nextEvent(again)).kind, 'idle')
      again.close()
    } finally {
      await gw.close()
      await fixture.stop()
    }
  })

  it("a sandbox's own idle after wins", async () => {
    const pw = new Portway({ domains: ['localhost'] })
    const sb = pw.sandbox('box')
    assert.equal(sb.idleAfter(), null)
    sb.setIdleAfter(200)
    assert.equal(sb.idleAfter(), 200)
    const events = pw.events()
    await sb.exposePort(4000, { hostname: 'localhost' })
    assert.equal((await nextEvent(events)).kind, 'exposed')
    assert.equal((await nextEvent(events)).kind, 'idle')
    sb.setIdleAfter(null)
    assert.equal(sb.idleAfter(), null)
    assert.throws(() => sb.setIdleAfter(-1), (e) => e instanceof PortwayError && e.code === 'INVALID_ARGUMENT')
    events.close()
  })
})

describe('wake', () => {
  it('twenty requests to a stopped sandbox call the hook once, and all get 200', async () => {
    const port = await freePort()
    const calls = []
    let fixture = null
    const wake = async (req) => {
      calls.push(req)
      if (calls.length === 1) {
        setTimeout(async () => {
          fixture = await startFixture(['--port', String(port)])
        }, 300)
      }
    }
    const { pw, gw, expose, get } = await setup({ wake })
    try {
      const host = await expose('box', port)
      const sb = pw.sandbox('box')
      await sb.markStopped()
      const all = await Promise.all(Array.from({ length: 20 }, () => get(host, { path: '/status/200' })))
      assert.deepEqual(all.map((r) => r.status), Array(20).fill(200))
      assert.deepEqual(calls, [{ sandboxId: 'box', port }])
      assert.equal(pw.getSandbox('box').status, 'running')
      // A WebSocket handshake wakes it too.
      await sb.markStopped()
      const ws = await wsOpen(gw.localAddr, host)
      ws.send('hi')
      const [back] = await new Promise((resolve) => ws.once('message', (...m) => resolve(m)))
      assert.equal(back.toString(), 'hi')
      ws.close()
      assert.equal(calls.length, 2)
    } finally {
      await gw.close()
      if (fixture) await fixture.stop()
    }
  })

  it('a hook that rejects, throws or resolves to false fails with its reason (503)', async () => {
    const hooks = [
      [async (req) => { throw new Error(`no capacity for ${req.sandboxId}`) }, 'no capacity for box'],
      [() => { throw new Error('sync throw') }, 'sync throw'],
      [async () => false, 'the wake hook refused'],
    ]
    for (const [wake, reason] of hooks) {
      const { pw, gw, expose, get } = await setup({ wake })
      try {
        const host = await expose('box', await freePort())
        await pw.sandbox('box').markStopped()
        const r = await get(host)
        assert.equal(r.status, 503)
        const body = JSON.parse(r.body)
        assert.equal(body.code, 'SANDBOX_WAKE_FAILED')
        assert.ok(body.reason.includes(reason), `${body.reason} has ${reason}`)
      } finally {
        await gw.close()
      }
    }
  })

  it('a hook that never answers times out (504), and a browser gets the starting page', async () => {
    const wake = () => new Promise(() => {})
    const { pw, gw, expose, get } = await setup({ wake, gateway: { wakeTimeoutMs: 500, wakePageAfterMs: 200 } })
    try {
      const host = await expose('box', await freePort())
      await pw.sandbox('box').markStopped()
      const r = await get(host)
      assert.equal(r.status, 504)
      assert.equal(JSON.parse(r.body).code, 'SANDBOX_WAKE_TIMEOUT')
      const page = await get(host, { headers: { accept: 'text/html' } })
      assert.equal(page.status, 503)
      assert.equal(page.headers['retry-after'], '2')
      assert.ok(page.body.includes('http-equiv="refresh"'))
      assert.ok(page.body.includes('SANDBOX_STARTING'))
    } finally {
      await gw.close()
    }
  })
})
