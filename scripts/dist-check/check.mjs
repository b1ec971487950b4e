// What a Node user does with the installed npm packages: expose the fixture service's port,
// serve the gateway, fetch through it, and send a WebSocket message through it. Run by
// scripts/dist-check.sh in a fresh npm project with no Rust reachable; the fixture's port
// comes in FIXTURE_PORT.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { createRequire } from 'node:module'
import { Portway, PortwayError } from 'portway'

const fixture = Number(process.env.FIXTURE_PORT)
const portway = new Portway({ domains: ['localhost'] })
const gateway = await portway.serve({ listen: '127.0.0.1:0' })
try {
  const sandbox = portway.sandbox('dist-check')
  await sandbox.waitForPort(fixture, { mode: 'tcp', timeoutMs: 5000 })
  const exposed = await sandbox.exposePort(fixture, { hostname: `localhost:${gateway.port}` })
  const host = new URL(exposed.url).host

  // HTTP through the gateway, with the preview host as Host (Node's resolver does not map
  // *.localhost to 127.0.0.1).
  const { status, body } = await new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: gateway.port, path: '/echo?from=node', headers: { host } }, (res) => {
        let text = ''
        res.on('data', (c) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode, body: text }))
      })
      .on('error', reject)
  })
  assert.equal(status, 200, body)
  assert.equal(JSON.parse(body).path, '/echo?from=node')

  // A WebSocket message through the gateway: the upgrade by hand (the check installs nothing
  // but the packages).
  const reply = await new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: gateway.port,
      path: '/ws',
      headers: {
        host,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-version': '13',
      },
    })
    req.on('upgrade', (res, socket) => {
      const payload = Buffer.from('hello from the npm package')
      const mask = randomBytes(4)
      const frame = Buffer.concat([
        Buffer.from([0x81, 0x80 | payload.length]),
        mask,
        Buffer.from(payload.map((b, i) => b ^ mask[i % 4])),
      ])
      socket.write(frame)
      let got = Buffer.alloc(0)
      socket.on('data', (chunk) => {
        got = Buffer.concat([got, chunk])
        if (got.length >= 2 && got.length >= 2 + got[1]) {
          resolve(got.subarray(2, 2 + got[1]).toString())
          socket.destroy()
        }
      })
    })
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)))
    req.on('error', reject)
    req.end()
  })
  assert.ok(reply.includes('hello from the npm package'), reply)

  // Errors are PortwayErrors with their stable codes.
  await assert.rejects(sandbox.exposePort(80, { hostname: 'localhost' }), (e) => e instanceof PortwayError && e.code === 'INVALID_PORT')

  const require = createRequire(import.meta.url)
  console.log(`node: portway from ${require.resolve('portway')}`)
  console.log(`node: addon from ${require.resolve('portway-linux-x64-gnu')}`)
  console.log(`node: GET through ${exposed.url} -> ${status}; WebSocket reply ${JSON.stringify(reply)}`)
} finally {
  await gateway.close()
}
