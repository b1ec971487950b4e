'use strict'
// A real gateway in front of real Node services: an `http` server and a `ws` echo server.
// HTTP goes through it with `fetch` (the preview URL exactly as exposePort returned it;
// `*.localhost` is resolved to the loopback address, as browsers do under RFC 6761) and with
// http.request carrying the preview Host; WebSockets with the `ws` client. What the gateway
// does to each request (forwarding headers, pass-through, every refusal) is the cases of
// tests/vectors/gateway.json, run by vectors.test.js.

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const net = require('node:net')
const { describe, it, before, after } = require('node:test')
const { Agent } = require('undici')
const { WebSocket: WsClient } = require('ws')

const { Portway } = require('portway')
const { startHttp, startWsEcho, request, hostOf } = require('./support.js')

/** `*.localhost` (and `localhost`) resolve to 127.0.0.1, as RFC 6761 has it. */
const localhostAgent = new Agent({
  connect: {
    lookup(hostname, options, callback) {
      if (hostname !== 'localhost' && !hostname.endsWith('.localhost')) {
        return callback(new Error(`unexpected host ${hostname}`))
      }
      if (options && options.all) return callback(null, [{ address: '127.0.0.1', family: 4 }])
      return callback(null, '127.0.0.1', 4)
    },
  },
})

function fetchPreview(url, init = {}) {
  return fetch(url, { ...init, dispatcher: localhostAgent })
}

/** The `ws` client on the gateway's address, with the preview host as its Host header. */
function wsThroughGateway(gatewayAddr, previewHost, path = '/') {
  const ws = new WsClient(`ws://${gatewayAddr}${path}`, { headers: { host: previewHost } })
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })))
  })
}

function nextMessage(ws) {
  return new Promise((resolve, reject) => {
    ws.once('message', (data, isBinary) => resolve({ data, isBinary }))
    ws.once('error', reject)
  })
}

function closed(ws) {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
}

describe('gateway in front of Node services', () => {
  let web, echo, pw, sandbox, gateway, webUrl, echoUrl
  before(async () => {
    web = await startHttp((req, res) => {
      const url = new URL(req.url, 'http://x')
      if (url.pathname === '/upload') {
        const hash = crypto.createHash('sha256')
        let size = 0
        req.on('data', (c) => {
          size += c.length
          hash.update(c)
        })
        req.on('end', () => res.end(JSON.stringify({ size, sha256: hash.digest('hex') })))
      } else if (url.pathname === '/events') {
        // Server-sent events: the second one waits until the client has seen the first.
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
        res.write('data: first\n\n')
        web.release = () => {
          res.write('data: second\n\n')
          res.end()
        }
      } else {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }))
      }
    })
    echo = await startWsEcho()
    // The gateway's own port goes into the preview URLs, so it starts first.
    pw = new Portway({ domains: ['localhost'], gateway: { connectRetryWindowMs: 200 } })
    gateway = await pw.serve({ listen: '127.0.0.1:0' })
    sandbox = pw.sandbox('node-box')
    webUrl = (await sandbox.exposePort(web.port, { hostname: `localhost:${gateway.port}`, name: 'web' })).url
    echoUrl = (await sandbox.exposePort(echo.port, { hostname: `localhost:${gateway.port}`, name: 'ws' })).url
  })
  after(async () => {
    await gateway.close()
    await web.close()
    await echo.close()
    await localhostAgent.close()
  })

  it('serves the preview URL with fetch, exactly as exposePort returned it', async () => {
    assert.equal(new URL(webUrl).port, String(gateway.port))
    const res = await fetchPreview(new URL('/echo?x=1&y=two', webUrl))
    assert.equal(res.status, 200)
    const seen = await res.json()
    assert.equal(seen.url, '/echo?x=1&y=two')
    assert.equal(seen.headers['x-forwarded-host'], hostOf(webUrl))
  })

  it('streams a request body through and the response back', async () => {
    const body = crypto.randomBytes(3 << 20)
    const res = await fetchPreview(new URL('/upload', webUrl), { method: 'POST', body })
    assert.deepEqual(await res.json(), { size: body.length, sha256: crypto.createHash('sha256').update(body).digest('hex') })
  })

  it('flushes server-sent events as they come', async () => {
    const res = await fetchPreview(new URL('/events', webUrl))
    assert.equal(res.headers.get('content-type'), 'text/event-stream')
    const reader = res.body.getReader()
    const first = await reader.read()
    assert.match(Buffer.from(first.value).toString(), /data: first/)
    web.release()
    let rest = ''
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += Buffer.from(r.value).toString()
    assert.match(rest, /data: second/)
  })

  it('answers with http.request and a preview Host header too', async () => {
    const res = await request(gateway.localAddr, hostOf(webUrl), { path: '/plain' })
    assert.equal(res.status, 200)
    assert.equal(JSON.parse(res.body).url, '/plain')
  })

  it('relays WebSockets for the ws client: text, binary, close codes both ways', async () => {
    const ws = await wsThroughGateway(gateway.localAddr, hostOf(echoUrl), '/chat')
    ws.send('hello')
    assert.deepEqual(await nextMessage(ws), { data: Buffer.from('hello'), isBinary: false })
    ws.send(Buffer.from([0, 1, 2, 255]))
    const bin = await nextMessage(ws)
    assert.equal(bin.isBinary, true)
    assert.deepEqual([...bin.data], [0, 1, 2, 255])
    assert.equal(echo.requests.at(-1).headers.host, `localhost:${echo.port}`, 'Host rewritten for WebSockets too')

    const gone = closed(ws)
    ws.close(4001, 'client bye')
    assert.deepEqual(await gone, { code: 4001, reason: 'client bye' })
    await waitFor(() => echo.closes.some((c) => c.code === 4001 && c.reason === 'client bye'))

    const ws2 = await wsThroughGateway(gateway.localAddr, hostOf(echoUrl))
    const gone2 = closed(ws2)
    ws2.send('close:4001:server bye')
    assert.deepEqual(await gone2, { code: 4001, reason: 'server bye' })
  })

  it('counts what it did in Prometheus text', async () => {
    assert.equal((await request(gateway.localAddr, 'example.com')).status, 404)
    const text = gateway.metrics()
    assert.match(text, /# TYPE portway_requests_total counter/)
    assert.match(text, /portway_requests_total\{status="200"\} \d+/)
    assert.match(text, /portway_requests_total\{status="404"\} \d+/)
  })
})

describe('gateway handle', () => {
  it('closes with Symbol.asyncDispose (what `await using` calls), then refuses connections', async () => {
    const gateway = await new Portway().serve({ listen: '127.0.0.1:0' })
    assert.match(gateway.localAddr, /^127\.0\.0\.1:\d+$/)
    assert.equal(typeof gateway[Symbol.asyncDispose], 'function')
    await gateway[Symbol.asyncDispose]()
    await assert.rejects(request(gateway.localAddr, 'example.com'), { code: 'ECONNREFUSED' })
    await gateway.close()
  })

  it('shuts down gracefully: an in-flight request finishes within the deadline', async () => {
    let release
    const slow = await startHttp((req, res) => {
      release = () => res.end('finished')
    })
    const pw = new Portway()
    const gateway = await pw.serve({ listen: '127.0.0.1:0' })
    const { url } = await pw.sandbox('slow-box').exposePort(slow.port, { hostname: 'localhost' })
    const inflight = request(gateway.localAddr, hostOf(url))
    await waitFor(() => release !== undefined)
    const done = gateway.shutdown(5000)
    setTimeout(() => release(), 100)
    const res = await inflight
    assert.equal(res.status, 200)
    assert.equal(res.body, 'finished')
    await done
    await assert.rejects(request(gateway.localAddr, hostOf(url)), { code: 'ECONNREFUSED' })
    await slow.close()
  })
})

describe('per-client limits from Node', () => {
  it('clientRequestRate: 1 with clientRequestBurst: 1 answers the second request 429 RATE_LIMITED', async () => {
    const web = await startHttp((req, res) => res.end('ok'))
    const pw = new Portway({ gateway: { clientRequestRate: 1, clientRequestBurst: 1 } })
    const gateway = await pw.serve({ listen: '127.0.0.1:0' })
    try {
      const { url } = await pw.sandbox('rate-box').exposePort(web.port, { hostname: 'localhost' })
      const first = await request(gateway.localAddr, hostOf(url))
      const second = await request(gateway.localAddr, hostOf(url))
      assert.equal(first.status, 200)
      assert.equal(second.status, 429)
      assert.equal(second.headers['retry-after'], '1')
      assert.equal(JSON.parse(second.body).code, 'RATE_LIMITED')
      assert.match(gateway.metrics(), /portway_rate_limited_requests_total\{limit="client"\} 1\n/)
    } finally {
      await gateway.close()
      await web.close()
    }
  })

  it('maxConnectionsPerClient: 1 refuses a second connection with 429 CLIENT_CONNECTION_LIMIT', async () => {
    const pw = new Portway({ gateway: { maxConnectionsPerClient: 1 } })
    const gateway = await pw.serve({ listen: '127.0.0.1:0' })
    const [host, port] = [gateway.localAddr.split(':')[0], Number(gateway.localAddr.split(':')[1])]
    const held = net.connect(port, host)
    try {
      await new Promise((resolve) => held.once('connect', resolve))
      // The first connection is counted once the gateway accepted it.
      await waitFor(() => /portway_open_connections 1\n/.test(gateway.metrics()))
      const answer = await new Promise((resolve, reject) => {
        const second = net.connect(port, host)
        let text = ''
        second.on('data', (d) => (text += d))
        second.on('end', () => resolve(text))
        second.on('error', reject)
      })
      assert.match(answer, /^HTTP\/1\.1 429 /)
      assert.match(answer, /CLIENT_CONNECTION_LIMIT/)
    } finally {
      held.destroy()
      await gateway.close()
    }
  })
})

async function waitFor(cond, ms = 3000) {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 10))
  }
}
