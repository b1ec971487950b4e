'use strict'
// waitForPort against real services, and AbortSignal cancellation of waits and connects.

const assert = require('node:assert/strict')
const { getEventListeners } = require('node:events')
const net = require('node:net')
const { describe, it, before, after } = require('node:test')

const { Portway, PortwayError } = require('portway')
const { startHttp, startWsEcho } = require('./support.js')

async function freePort() {
  const srv = net.createServer()
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address()
  await new Promise((resolve) => srv.close(resolve))
  return port
}

describe('waitForPort', () => {
  const sandbox = new Portway().sandbox('wait-box')

  it('waits for a service that starts late (http mode, the default)', async () => {
    const port = await freePort()
    let late
    const timer = setTimeout(async () => {
      late = await startHttpOn(port, (req, res) => res.end('up'))
    }, 300)
    const started = Date.now()
    await sandbox.waitForPort(port, { timeoutMs: 10_000, intervalMs: 50 })
    assert.ok(Date.now() - started >= 250, 'it waited')
    clearTimeout(timer)
    await late.close()
  })

  it('accepts a TCP connect in tcp mode, and a status range', async () => {
    const srv = await startHttp((req, res) => {
      res.writeHead(req.url === '/health' ? 204 : 503)
      res.end()
    })
    await sandbox.waitForPort(srv.port, { mode: 'tcp' })
    await sandbox.waitForPort(srv.port, { path: '/health', status: [200, 299] })
    await sandbox.waitForPort(srv.port, { status: { min: 503, max: 503 } })
    await assert.rejects(sandbox.waitForPort(srv.port, { timeoutMs: 1500, intervalMs: 50 }), (err) => {
      assert.ok(err instanceof PortwayError)
      assert.equal(err.code, 'PORT_WAIT_TIMEOUT')
      assert.match(err.message, /within 1.5s \(http mode\)/)
      return true
    })
    await srv.close()
  })
})

describe('AbortSignal', () => {
  const sandbox = new Portway().sandbox('abort-box')
  let silent, sockets, echo
  before(async () => {
    // Accepts TCP connections and never answers: a WebSocket handshake that never ends.
    sockets = []
    silent = net.createServer((s) => {
      s.resume() // reads (and drops) what arrives, so the client's FIN is seen
      sockets.push({ socket: s, closed: new Promise((r) => s.on('close', r)) })
    })
    await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve))
    echo = await startWsEcho()
  })
  after(async () => {
    for (const { socket } of sockets) socket.destroy()
    await new Promise((resolve) => silent.close(resolve))
    await echo.close()
  })

  it('cancels a wait: the Promise rejects with the signal reason at once', async () => {
    const port = await freePort()
    const controller = new AbortController()
    const started = Date.now()
    const waiting = sandbox.waitForPort(port, { timeoutMs: 30_000, intervalMs: 20, signal: controller.signal })
    setTimeout(() => controller.abort(), 100)
    await assert.rejects(waiting, (err) => {
      assert.equal(err.name, 'AbortError')
      assert.equal(err, controller.signal.reason)
      return true
    })
    assert.ok(Date.now() - started < 5000, 'well before the 30 s timeout')
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0, 'no listener left')
  })

  it('rejects at once with an already aborted signal, with its own reason', async () => {
    const reason = new Error('mine')
    const port = await freePort()
    await assert.rejects(sandbox.waitForPort(port, { signal: AbortSignal.abort(reason) }), (err) => err === reason)
    await assert.rejects(sandbox.wsConnect(echo.port, { signal: AbortSignal.abort(reason) }), (err) => err === reason)
  })

  it('works with AbortSignal.timeout', async () => {
    const port = await freePort()
    await assert.rejects(sandbox.waitForPort(port, { signal: AbortSignal.timeout(100) }), { name: 'TimeoutError' })
  })

  it('cancels a connect and closes its socket', async () => {
    const controller = new AbortController()
    const connecting = sandbox.wsConnect(silent.address().port, { signal: controller.signal })
    await waitFor(() => sockets.length === 1)
    controller.abort()
    await assert.rejects(connecting, { name: 'AbortError' })
    await sockets[0].closed // the half-open handshake was dropped
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0)
  })

  it('removes its listener once the operation is done, and a later abort changes nothing', async () => {
    const controller = new AbortController()
    const ws = await sandbox.wsConnect(echo.port, { signal: controller.signal })
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0)
    controller.abort()
    await ws.send('still here')
    assert.equal(await ws.recv(), 'still here')
    await ws.close()
    const srv = await startHttp((req, res) => res.end())
    const shared = new AbortController()
    for (let i = 0; i < 20; i++) await sandbox.waitForPort(srv.port, { signal: shared.signal })
    assert.equal(getEventListeners(shared.signal, 'abort').length, 0)
    await srv.close()
  })
})

async function startHttpOn(port, handler) {
  const http = require('node:http')
  const server = http.createServer(handler)
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve))
  return { close: () => new Promise((resolve) => server.close(resolve)) }
}

async function waitFor(cond, ms = 3000) {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 10))
  }
}
