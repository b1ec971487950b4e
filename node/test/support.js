'use strict'
// Shared by the tests: the repository's paths, real Node services for the gateway to front
// (an `http` server and a `ws` echo server), the fixture service of the gateway vectors
// (tests/fixture), and an HTTP client that sends a preview host as the Host header to the
// gateway's local address.

const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const net = require('node:net')
const path = require('node:path')
const { WebSocketServer } = require('ws')

const REPO = path.resolve(__dirname, '..', '..')
const VECTORS = path.join(REPO, 'tests', 'vectors')

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'))
}

/** Starts `handler` on 127.0.0.1 with a free port; resolves to `{ server, port, close }`. */
async function startHttp(handler) {
  const server = http.createServer(handler)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const sockets = new Set()
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  return {
    server,
    port: server.address().port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/**
 * A WebSocket echo server (the `ws` package): echoes text as text and binary as binary;
 * the text `close:CODE:REASON` makes it close with that code and reason; a client's close
 * frame is recorded in `closes` and answered with the same code and reason. Answers 403 to
 * the path `/forbidden` and picks the first offered subprotocol.
 */
async function startWsEcho() {
  const closes = []
  const requests = []
  const srv = await startHttp((req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' })
    res.end('websocket only')
  })
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => protocols.values().next().value ?? false,
  })
  srv.server.on('upgrade', (req, socket, head) => {
    requests.push({ url: req.url, headers: req.headers })
    if (req.url === '/forbidden') {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, isBinary) => {
        const text = isBinary ? null : data.toString()
        if (text !== null && text.startsWith('close:')) {
          const [, code, ...reason] = text.split(':')
          ws.close(Number(code), reason.join(':'))
          return
        }
        ws.send(data, { binary: isBinary })
      })
      ws.on('close', (code, reason) => closes.push({ code, reason: reason.toString() }))
    })
  })
  return {
    port: srv.port,
    closes,
    requests,
    close: async () => {
      for (const c of wss.clients) c.terminate()
      wss.close()
      await srv.close()
    },
  }
}

/**
 * One HTTP request to the gateway at `addr` ('127.0.0.1:PORT') with `host` as the Host
 * header; resolves to `{ status, headers, body }`.
 */
function request(addr, host, { method = 'GET', path: reqPath = '/', headers = {}, body } = {}) {
  const [hostname, port] = splitAddr(addr)
  return new Promise((resolve, reject) => {
    const req = http.request(
      { hostname, port, method, path: reqPath, headers: { host, ...headers }, agent: false },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

function splitAddr(addr) {
  const i = addr.lastIndexOf(':')
  return [addr.slice(0, i).replace(/^\[|\]$/g, ''), Number(addr.slice(i + 1))]
}

/** The host part (with port) of a URL string. */
function hostOf(url) {
  return new URL(url).host
}

/**
 * The fixture service's binary (tests/fixture): $PORTWAY_FIXTURE when set (node/test.sh builds
 * it and sets it), else cargo's build of it, built first when it is missing.
 */
function fixtureBinary() {
  if (process.env.PORTWAY_FIXTURE) return process.env.PORTWAY_FIXTURE
  const meta = JSON.parse(
    execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps', '--locked'], { cwd: REPO, encoding: 'utf8' }),
  )
  const binary = path.join(meta.target_directory, 'debug', 'portway-fixture')
  if (!fs.existsSync(binary)) {
    execFileSync('cargo', ['build', '--locked', '-q', '-p', 'portway-fixture'], { cwd: REPO, stdio: 'inherit' })
  }
  return binary
}

/**
 * Starts the fixture service; resolves to `{ port, stop }`. It exits when its stdin closes
 * (`stop()`, or this process ending).
 */
function startFixture() {
  const child = spawn(fixtureBinary(), [], { stdio: ['pipe', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`the fixture exited (${code}) before listening: ${out}`)))
    child.stdout.on('data', (chunk) => {
      out += chunk
      const m = /^listening 127\.0\.0\.1:(\d+)\n/.exec(out)
      if (!m) return
      child.removeAllListeners('exit')
      child.stdout.removeAllListeners('data')
      child.stdout.resume()
      resolve({
        port: Number(m[1]),
        stop: () =>
          new Promise((done) => {
            child.once('exit', () => done())
            child.stdin.end()
          }),
      })
    })
  })
}

/** A port nothing listens on (at the moment of asking). */
async function freePort() {
  const probe = net.createServer()
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address()
  await new Promise((resolve) => probe.close(resolve))
  return port
}

module.exports = {
  REPO,
  VECTORS,
  readJson,
  startHttp,
  startWsEcho,
  startFixture,
  freePort,
  request,
  splitAddr,
  hostOf,
}
