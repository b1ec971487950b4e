'use strict'
// sandbox.wsConnect against a WebSocket echo server made with the `ws` package: text and
// binary both ways, close codes and reasons both ways, `for await`, subprotocols, headers.

const assert = require('node:assert/strict')
const { describe, it, before, after } = require('node:test')

const { Portway, WebSocket } = require('portway')
const { startWsEcho } = require('./support.js')

describe('wsConnect to a ws echo server', () => {
  let echo, sandbox
  before(async () => {
    echo = await startWsEcho()
    sandbox = new Portway().sandbox('ws-box')
  })
  after(() => echo.close())

  it('sends and receives text as strings and binary as Buffers', async () => {
    const ws = await sandbox.wsConnect(echo.port, { path: '/echo?room=1' })
    assert.ok(ws instanceof WebSocket)
    assert.equal(ws.protocol, null)
    assert.equal(ws.closeCode, null)
    assert.equal(ws.closeReason, null)
    assert.equal(ws.closed, false)
    assert.equal(echo.requests.at(-1).url, '/echo?room=1')
    assert.equal(echo.requests.at(-1).headers.host, `localhost:${echo.port}`)

    await ws.send('héllo')
    assert.equal(await ws.recv(), 'héllo')
    await ws.send(Buffer.from([1, 2, 3]))
    const buf = await ws.recv()
    assert.ok(Buffer.isBuffer(buf))
    assert.deepEqual([...buf], [1, 2, 3])
    await ws.send(new Uint8Array([255, 0]))
    assert.deepEqual([...(await ws.recv())], [255, 0])
    await ws.send('')
    assert.equal(await ws.recv(), '')
    await ws.close()
    assert.equal(ws.closed, true)
  })

  it('reads with for await until the service closes with 4001 and a reason', async () => {
    const ws = await sandbox.wsConnect(echo.port)
    await ws.send('one')
    await ws.send(Buffer.from('two'))
    await ws.send('close:4001:server bye')
    const got = []
    for await (const msg of ws) got.push(msg)
    assert.deepEqual(got, ['one', Buffer.from('two')])
    assert.equal(typeof got[0], 'string')
    assert.ok(Buffer.isBuffer(got[1]))
    assert.equal(ws.closeCode, 4001)
    assert.equal(ws.closeReason, 'server bye')
    assert.equal(await ws.recv(), null)
  })

  it('closes with 4001 and a reason that the service receives', async () => {
    const ws = await sandbox.wsConnect(echo.port)
    await ws.send('ping')
    for await (const msg of ws) {
      assert.equal(msg, 'ping')
      break // leaves the connection open
    }
    assert.equal(ws.closed, false)
    await ws.send('still open')
    assert.equal(await ws.recv(), 'still open')
    await ws.close(4001, 'client bye')
    await waitFor(() => echo.closes.some((c) => c.code === 4001 && c.reason === 'client bye'))
    assert.equal(ws.closed, true)
    await ws.close(4001, 'again') // harmless
  })

  it('closes with 1000 through Symbol.asyncDispose (what `await using` calls)', async () => {
    const ws = await sandbox.wsConnect(echo.port)
    const before = echo.closes.length
    await ws[Symbol.asyncDispose]()
    assert.equal(ws.closed, true)
    await waitFor(() => echo.closes.length > before)
    assert.equal(echo.closes.at(-1).code, 1000)
  })

  it('offers subprotocols and extra headers', async () => {
    const ws = await sandbox.wsConnect(echo.port, {
      subprotocols: ['chat', 'superchat'],
      headers: { 'x-test': 'yes', cookie: 'a=1' },
    })
    assert.equal(ws.protocol, 'chat')
    const seen = echo.requests.at(-1).headers
    assert.equal(seen['x-test'], 'yes')
    assert.equal(seen.cookie, 'a=1')
    assert.equal(seen['sec-websocket-protocol'], 'chat, superchat')
    await ws.close()
  })

  it('runs many connections at once', async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => sandbox.wsConnect(echo.port)))
    await Promise.all(sockets.map((ws, i) => ws.send(`n${i}`)))
    assert.deepEqual(await Promise.all(sockets.map((ws) => ws.recv())), sockets.map((_, i) => `n${i}`))
    await Promise.all(sockets.map((ws) => ws.close()))
  })
})

async function waitFor(cond, ms = 3000) {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 10))
  }
}
