'use strict'
// Handles and the life of the process, each in a child process of its own: a listening
// gateway keeps Node running like an http.Server; nothing keeps it running after close()
// (or unref()); handles that are garbage collected release what they hold.

const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { describe, it, before, after } = require('node:test')

const { startWsEcho } = require('./support.js')

const PKG = JSON.stringify(path.resolve(__dirname, '..'))

/** Runs `code` in a child Node; resolves to `{ code, signal, stdout, stderr, ms }`. */
function runChild(code, { args = [], nodeArgs = [], killAfterMs = 15_000 } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const child = spawn(process.execPath, [...nodeArgs, '-e', code, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
}

function exitedByItself(r) {
  assert.equal(r.signal, null, `killed: the process did not exit by itself (${r.stderr})`)
  assert.equal(r.code, 0, r.stderr)
}

describe('handles and the process', () => {
  let echo
  before(async () => {
    echo = await startWsEcho()
  })
  after(() => echo.close())

  it('exits by itself once the gateway is closed', async () => {
    const r = await runChild(`
      const { Portway } = require(${PKG})
      ;(async () => {
        const pw = new Portway()
        const gateway = await pw.serve({ listen: '127.0.0.1:0' })
        await pw.sandbox('box').exposePort(8080, { hostname: 'localhost' })
        await gateway.close()
        console.log('closed')
      })()`)
    exitedByItself(r)
    assert.match(r.stdout, /closed/)
  })

  it('stays alive while the gateway listens, like an http.Server', async () => {
    const r = await runChild(
      `
      const { Portway } = require(${PKG})
      new Portway().serve({ listen: '127.0.0.1:0' }).then((g) => { globalThis.g = g; console.log('listening') })`,
      { killAfterMs: 3000 },
    )
    assert.match(r.stdout, /listening/)
    assert.equal(r.signal, 'SIGKILL', 'still running when killed')
  })

  it('exits by itself after unref(), the gateway still serving until then', async () => {
    const r = await runChild(`
      const { Portway } = require(${PKG})
      const http = require('node:http')
      new Portway().serve({ listen: '127.0.0.1:0' }).then((g) => {
        globalThis.g = g
        g.unref()
        http.get({ host: '127.0.0.1', port: g.port, headers: { host: 'example.com' } }, (res) => {
          console.log('status', res.statusCode)
          res.resume()
        })
      })`)
    exitedByItself(r)
    assert.match(r.stdout, /status 404/)
  })

  it('exits by itself once a WebSocket is closed', async () => {
    const r = await runChild(
      `
      const { Portway } = require(${PKG})
      ;(async () => {
        const ws = await new Portway().sandbox('box').wsConnect(Number(process.argv[1]))
        await ws.send('hi')
        console.log(await ws.recv())
        await ws.close(4001, 'bye')
      })()`,
      { args: [String(echo.port)] },
    )
    exitedByItself(r)
    assert.match(r.stdout, /hi/)
    await waitFor(() => echo.closes.some((c) => c.code === 4001 && c.reason === 'bye'))
  })

  it('releases collected handles: the gateway stops, the WebSocket closes, the store file is free', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portway-node-gc-'))
    try {
      const before = echo.closes.length
      const r = await runChild(
        `
        const { Portway } = require(${PKG})
        const net = require('node:net')
        const store = process.argv[2]
        const refused = (port) => new Promise((resolve) => {
          const s = net.connect(port, '127.0.0.1')
          s.on('connect', () => { s.destroy(); resolve(false) })
          s.on('error', () => resolve(true))
        })
        const collect = async (done) => {
          for (let i = 0; i < 100; i++) {
            gc()
            await new Promise((r) => setTimeout(r, 20))
            if (await done()) return true
          }
          return false
        }
        ;(async () => {
          let pw = new Portway({ store })
          let gateway = await pw.serve({ listen: '127.0.0.1:0' })
          const port = gateway.port
          let ws = await pw.sandbox('box').wsConnect(Number(process.argv[1]))
          await ws.send('x')
          await ws.recv()
          gateway = null
          ws = null
          pw = null
          console.log('gateway stopped', await collect(() => refused(port)))
          const reopened = await collect(async () => { try { new Portway({ store }); return true } catch { return false } })
          console.log('store reopened', reopened)
        })()`,
        { args: [String(echo.port), path.join(dir, 'gc.db')], nodeArgs: ['--expose-gc'] },
      )
      exitedByItself(r)
      assert.match(r.stdout, /gateway stopped true/)
      assert.match(r.stdout, /store reopened true/)
      await waitFor(() => echo.closes.length > before)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

async function waitFor(cond, ms = 5000) {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 10))
  }
}
