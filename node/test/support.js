'use strict'
// Shared by the tests: the repository's paths, real Node services for the gateway to front
// (an `http` server and a `ws` echo server), the fixture service of the gateway vectors
// (tests/fixture), a redis-server of a test's own, and an HTTP client that sends a preview
// host as the Host header to the gateway's local address.

const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const net = require('node:net')
const os = require('node:os')
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
function startFixture(args = []) {
  const child = spawn(fixtureBinary(), args, { stdio: ['pipe', 'pipe', 'inherit'] })
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

/** Whether a Redis on 127.0.0.1:`port` answers PING with +PONG. */
function redisPing(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    let answer = ''
    const done = (ok) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.on('error', () => done(false))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      answer += chunk
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'))
    })
  })
}

/**
 * Starts a redis-server of the caller's own: $PORTWAY_REDIS_SERVER, else `redis-server` on
 * the PATH, on a free loopback port, working in a new temporary directory, without
 * persistence. Resolves once it answers PING (10 s at most) to `{ port, url, kill }`;
 * `kill()` (SIGKILL) stops it and removes its directory. A missing binary rejects, saying
 * how to install it.
 */
async function startRedis() {
  const binary = process.env.PORTWAY_REDIS_SERVER || 'redis-server'
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portway-node-redis-'))
  const log = path.join(dir, 'redis.log')
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  args.push('--dir', dir, '--daemonize', 'no', '--logfile', log)
  const child = spawn(binary, args, { stdio: 'ignore' })
  let exited = null
  const gone = new Promise((resolve) => child.once('exit', resolve))
  child.once('exit', (code, signal) => (exited = signal || code))
  let failed = null
  child.once('error', (e) => (failed = e))
  const kill = async () => {
    if (exited === null && !failed) {
      child.kill('SIGKILL')
      await gone
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (failed) {
      await kill()
      throw new Error(
        `cannot run ${binary}: ${failed.message}. Install it with scripts/redis.sh (or apt-get install redis-server), or name it in PORTWAY_REDIS_SERVER`,
      )
    }
    if (exited !== null) break
    if (await redisPing(port)) return { port, url: `redis://127.0.0.1:${port}/0`, kill }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const said = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : ''
  await kill()
  throw new Error(`${binary} on port ${port} did not answer PING (exit: ${exited}): ${said}`)
}

module.exports = {
  REPO,
  VECTORS,
  readJson,
  startHttp,
  startWsEcho,
  startFixture,
  freePort,
  startRedis,
  request,
  splitAddr,
  hostOf,
}
