'use strict'
// The public API: every Node name of tests/api/parity.json is offered (through require and
// import alike), and the calls behave as docs/spec/exposure-api.md says.

const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { describe, it, before, after } = require('node:test')

const portway = require('portway')
const { Portway, PortwayError } = portway
const { REPO, readJson, startWsEcho, hostOf } = require('./support.js')

const parity = readJson(path.join(REPO, 'tests', 'api', 'parity.json'))

describe('parity with tests/api/parity.json', () => {
  let echo, gateway, ws, events, instances
  before(async () => {
    echo = await startWsEcho()
    const pw = new Portway()
    const sandbox = pw.sandbox('parity-box')
    gateway = await pw.serve({ listen: '127.0.0.1:0' })
    ws = await sandbox.wsConnect(echo.port)
    events = pw.events()
    instances = { Portway: pw, Sandbox: sandbox, GatewayHandle: gateway, WebSocket: ws, EventStream: events }
  })
  after(async () => {
    await ws.close()
    events.close()
    await gateway.close()
    await echo.close()
  })

  it('lists functions and types', () => {
    assert.ok(parity.functions.length > 0)
    assert.deepEqual(Object.keys(parity.types).sort(), ['EventStream', 'GatewayHandle', 'Portway', 'Sandbox', 'WebSocket'])
  })

  for (const [how, load] of [
    ['require', async () => require('portway')],
    ['import', async () => import('portway')],
  ]) {
    it(`offers every function (${how})`, async () => {
      const mod = await load()
      for (const f of parity.functions) assert.equal(typeof mod[f.node], 'function', `${how}: ${f.node}`)
    })

    it(`offers every type, with every member on its instances (${how})`, async () => {
      const mod = await load()
      for (const [type, members] of Object.entries(parity.types)) {
        assert.equal(typeof mod[type], 'function', `${how}: class ${type}`)
        const instance = instances[type]
        assert.ok(instance instanceof mod[type], `${how}: an instance of ${type}`)
        for (const m of members) {
          assert.ok(m.node in instance, `${how}: ${type}.${m.node}`)
        }
      }
    })
  }

  it('gives the same classes through require and import', async () => {
    const esm = await import('portway')
    for (const name of ['Portway', 'Sandbox', 'GatewayHandle', 'WebSocket', 'PortwayError']) {
      assert.equal(esm[name], portway[name], name)
    }
    assert.equal(esm.default, portway)
  })

  it('works in worker threads, each with its own PortwayError', async () => {
    const { Worker } = require('node:worker_threads')
    const code = `
      const { parentPort } = require('node:worker_threads')
      const p = require(${JSON.stringify(path.resolve(__dirname, '..'))})
      let sync
      try { p.validatePort(80) } catch (e) { sync = e instanceof p.PortwayError && e.code }
      new p.Portway().sandbox('box').exposePort(1, { hostname: 'localhost' })
        .catch((e) => parentPort.postMessage([sync, e instanceof p.PortwayError && e.code]))`
    const worker = new Worker(code, { eval: true })
    const got = await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await worker.terminate()
    assert.deepEqual(got, ['INVALID_PORT', 'INVALID_PORT'])
  })

  it('has the version of the Rust workspace', () => {
    const cargo = fs.readFileSync(path.join(REPO, 'Cargo.toml'), 'utf8')
    const version = /\[workspace\.package\][^[]*?\nversion = "([^"]+)"/.exec(cargo)[1]
    assert.equal(require('portway/package.json').version, version)
  })
})

describe('index.d.ts', () => {
  it('has a doc comment on every public name', () => {
    const lines = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8').split('\n')
    const undocumented = []
    for (const [i, line] of lines.entries()) {
      const declaration = /^export (declare )?(class|function|const|interface|type) /.test(line)
      const member = /^  (get |readonly |constructor\(|\[globalThis\.Symbol|[a-zA-Z_]+[?(:])/.test(line)
      if (!declaration && !member) continue
      const previous = lines[i - 1].trim()
      if (!previous.endsWith('*/')) undocumented.push(`${i + 1}: ${line.trim()}`)
    }
    assert.deepEqual(undocumented, [])
  })
})

describe('pure functions', () => {
  it('build and parse preview URLs', () => {
    const url = portway.buildPreviewUrl(8080, 'my-box', 'token123', 'localhost:8787')
    assert.equal(url, 'http://8080-my-box-token123.localhost:8787/')
    assert.equal(portway.buildPreviewUrl(8080, 'my-box', 'token123', 'Example.com'), 'https://8080-my-box-token123.example.com/')
    assert.deepEqual(portway.parsePreviewHost('8080-my-box-token123.localhost:8787'), {
      port: 8080,
      sandboxId: 'my-box',
      token: 'token123',
    })
    assert.equal(portway.parsePreviewHost('example.com'), null)
  })

  // The free functions are plain Node-API callbacks reading strings on the stack, and
  // parsePreviewHost builds its object in JavaScript from indices (bindings/node/src/fast_path.rs);
  // Portway's methods of the same names go through napi-rs and the core's owned Route. Both
  // must give the same answer for every input, including strings longer than the stack buffer
  // (256 bytes) with multi-byte characters across its end, uppercase hosts and non-ASCII.
  it('agree with Portway\'s methods on any input', () => {
    const pw = new Portway({ domains: ['localhost', 'example.com', 'xn--bcher-kva.example'] })
    let seed = 0x2545f491
    const random = (n) => {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5
      return (seed >>> 0) % n
    }
    const pieces = ['a', 'Z', 'k', '0', '9', '8080', '65535', '-', '--', '_', '.', ':', '\u00e9', '\u212a', '\u{1f600}', '\ud800', ' ', 'x'.repeat(60)]
    // Hosts under the Portway's domains (its methods check them; the free function does not),
    // or no host name at all; for building, any host name.
    const domains = ['localhost', 'Example.COM', 'localhost:8787', 'example.com.', '[::1]', 'example.com:1:2', '']
    const hostnames = [...domains, 'b\u00fccher.example', 'xn--bcher-kva.example', 'my.workers.dev']
    const text = (max, from = pieces) => Array.from({ length: random(max) }, () => from[random(from.length)]).join('')
    // In a host, no '.' or ':' in the label, so that what follows it is the domain chosen.
    const labelPieces = pieces.filter((p) => p !== '.' && p !== ':')
    const outcome = (f) => {
      try {
        return { value: f() }
      } catch (err) {
        return { code: err.code, message: err.message }
      }
    }
    for (let i = 0; i < 20000; i++) {
      const host = `${[8080, 1024, 65535, 99999, 3000][random(5)]}-${text(12, labelPieces)}-${text(4, labelPieces)}.${domains[random(domains.length)]}`
      const parsed = outcome(() => portway.parsePreviewHost(host))
      assert.deepEqual(parsed, outcome(() => pw.parsePreviewHost(host)), host)
      const [id, token, hostname] = [text(20), text(4), i % 3 === 0 ? 'a.'.repeat(120 + random(20)) + text(6) : hostnames[random(hostnames.length)] + text(3)]
      const port = [8080, 1023, 8080.5, '8080'][random(4)]
      assert.deepEqual(
        outcome(() => portway.buildPreviewUrl(port, id, token, hostname)),
        outcome(() => pw.buildPreviewUrl(port, id, token, hostname)),
        JSON.stringify([port, id, token, hostname]),
      )
    }
    assert.deepEqual(portway.parsePreviewHost('8080-My-BOX-Token_1.Example.com:443'), { port: 8080, sandboxId: 'my-box', token: 'token_1' })
    assert.deepEqual(portway.parsePreviewHost('65535-a-b.localhost'), { port: 65535, sandboxId: 'a', token: 'b' })
    const long = 'x'.repeat(63 - 5 - 1 - 16 - 1)
    assert.deepEqual(portway.parsePreviewHost(`8080-${long}-k3j9x0q2m7w1z5ab.localhost`), { port: 8080, sandboxId: long, token: 'k3j9x0q2m7w1z5ab' })
    for (const tail of ['a', '\u00e9', '\u{1f600}']) {
      for (let n = 240; n < 262; n++) {
        const hostname = 'a.'.repeat(n >> 1).slice(0, n - 1 - tail.length) + '.' + tail
        assert.deepEqual(
          outcome(() => portway.buildPreviewUrl(8080, 'box', 'token123', hostname)),
          outcome(() => pw.buildPreviewUrl(8080, 'box', 'token123', hostname)),
        )
      }
    }
  })

  it('validate and return their input', () => {
    assert.equal(portway.validatePort(8080), 8080)
    assert.equal(portway.validatePort(8080.0), 8080)
    assert.equal(portway.validatePort(8080n), 8080)
    assert.equal(portway.validateSandboxId('my-box'), 'my-box')
    assert.equal(portway.validateToken('token_123'), 'token_123')
  })

  it('generate tokens of 16 characters of [a-z0-9]', () => {
    const tokens = new Set(Array.from({ length: 50 }, () => portway.generateToken()))
    assert.equal(tokens.size, 50)
    for (const t of tokens) assert.match(t, /^[a-z0-9]{16}$/)
  })
})

describe('Portway', () => {
  it('has defaults', () => {
    const pw = new Portway()
    assert.deepEqual(pw.domains, ['localhost'])
    assert.equal(pw.validatePort(8080), 8080)
    assert.throws(() => pw.validatePort(3000), { code: 'INVALID_PORT' })
  })

  it('takes every option', () => {
    const pw = new Portway({
      domains: ['Preview.Example.com', 'localhost'],
      store: ':memory:',
      reservedPorts: [3000, 9000],
      reservedSandboxIds: ['blocked'],
      customDomainSuffixes: ['pages.dev'],
      normalizeId: true,
      minTokenLength: 12,
      gateway: { maxConnections: 100, idleTimeoutMs: 5000, forwardedProto: 'https', rewriteHost: false },
    })
    assert.deepEqual(pw.domains, ['preview.example.com', 'localhost'])
    assert.throws(() => pw.validatePort(9000), { code: 'INVALID_PORT', message: /excluding 3000, 9000/ })
    assert.throws(() => pw.validateSandboxId('blocked'), { code: 'INVALID_SANDBOX_ID' })
    assert.equal(pw.validateSandboxId('www'), 'www')
    assert.equal(pw.validateSandboxId('My-Box'), 'my-box')
    assert.throws(() => pw.validateToken('short_token'), { code: 'INVALID_TOKEN_FORMAT' })
    assert.equal(pw.validateToken('long_enough_1'), 'long_enough_1')
    assert.throws(() => pw.buildPreviewUrl(8080, 'box', 'token123', 'x.pages.dev'), { code: 'CUSTOM_DOMAIN_REQUIRED' })
    assert.ok(pw.parsePreviewHost('8080-box-token123.preview.example.com'))
    assert.equal(pw.parsePreviewHost('8080-box-token123.other.com'), null)
  })

  it('hands out sandboxes, normalised and with their upstream host', () => {
    const pw = new Portway({ normalizeId: true })
    const sb = pw.sandbox('My-Box', { upstreamHost: '10.0.0.7' })
    assert.equal(sb.id, 'my-box')
    assert.equal(sb.upstreamHost, '10.0.0.7')
    assert.equal(pw.sandbox('box').upstreamHost, '127.0.0.1')
    assert.equal(pw.sandbox('box', {}).upstreamHost, '127.0.0.1')
  })
})

describe('Sandbox', () => {
  it('exposes, lists, validates and unexposes ports', async () => {
    const pw = new Portway({ domains: ['example.com', 'localhost'] })
    const sb = pw.sandbox('my-box')
    const exposed = await sb.exposePort(8080, { hostname: 'example.com', name: 'web' })
    assert.deepEqual(Object.keys(exposed).sort(), ['exposedAt', 'name', 'port', 'url'])
    assert.match(exposed.url, /^https:\/\/8080-my-box-[a-z0-9]{16}\.example\.com\/$/)
    assert.equal(exposed.exposedAt, exposed.url)
    assert.equal(exposed.name, 'web')
    assert.equal(exposed.port, 8080)

    const again = await sb.exposePort(8080, { hostname: 'example.com' })
    assert.equal(again.url, exposed.url, 're-exposing keeps the URL')
    assert.equal(again.name, 'web', 'and the name')

    const other = await sb.exposePort(5173, { hostname: 'localhost:8787', token: 'my_token_1' })
    assert.equal(other.url, 'http://5173-my-box-my_token_1.localhost:8787/')
    assert.equal(other.name, null)

    const { ports } = await sb.getExposedPorts('example.com')
    assert.deepEqual(
      ports.map((p) => [p.port, p.name, p.status]),
      [
        [5173, null, 'active'],
        [8080, 'web', 'active'],
      ],
    )
    assert.equal(ports[1].url, exposed.url)

    const token = hostOf(exposed.url).split('.')[0].split('-').pop()
    assert.equal(await sb.isPortExposed(8080), true)
    assert.equal(await sb.isPortExposed(8081), false)
    assert.equal(await sb.validatePortToken(8080, token), true)
    assert.equal(await sb.validatePortToken(8080, 'wrong_token'), false)
    for (const bad of [80, 3000, 70000, 8080.5, NaN, -1, '8080', null, undefined, {}]) {
      assert.equal(await sb.isPortExposed(bad), false, `isPortExposed(${String(bad)})`)
      assert.equal(await sb.validatePortToken(bad, token), false, `validatePortToken(${String(bad)})`)
    }

    assert.equal(await sb.unexposePort(8080), undefined)
    assert.equal(await sb.unexposePort(8080), undefined, 'idempotent')
    assert.equal(await sb.isPortExposed(8080), false)
  })

  it('follows the lifecycle: stopped gives stale, destroyed forgets the tokens', async () => {
    const pw = new Portway()
    const sb = pw.sandbox('life-box')
    const { url } = await sb.exposePort(8080, { hostname: 'localhost' })
    const host = hostOf(url)
    assert.deepEqual(pw.resolve(host), { kind: 'upstream', sandboxId: 'life-box', port: 8080, upstreamHost: '127.0.0.1' })
    assert.deepEqual(pw.getSandbox('life-box'), { id: 'life-box', upstreamHost: '127.0.0.1', status: 'running', exposedPorts: 1 })

    await sb.markStopped()
    assert.deepEqual(pw.resolve(host), { kind: 'stale', sandboxId: 'life-box', port: 8080 })
    assert.equal((await sb.getExposedPorts('localhost')).ports[0].status, 'inactive')
    assert.equal(pw.getSandbox('life-box').status, 'stopped')

    await sb.markRunning()
    assert.equal(pw.resolve(host).kind, 'upstream')

    await sb.destroy()
    assert.deepEqual(pw.resolve(host), { kind: 'denied' })
    assert.equal(pw.getSandbox('life-box'), null)
    assert.deepEqual(pw.resolve('example.com'), { kind: 'not_preview' })

    const fresh = await sb.exposePort(8080, { hostname: 'localhost' })
    assert.notEqual(fresh.url, url, 'exposing after destroy gives a new token')
  })

  it('lists sandboxes sorted by id', async () => {
    const pw = new Portway()
    await pw.sandbox('b-box', { upstreamHost: '10.0.0.2' }).exposePort(8080, { hostname: 'localhost' })
    await pw.sandbox('a-box').markStopped()
    assert.deepEqual(pw.sandboxes(), [
      { id: 'a-box', upstreamHost: '127.0.0.1', status: 'stopped', exposedPorts: 0 },
      { id: 'b-box', upstreamHost: '10.0.0.2', status: 'running', exposedPorts: 1 },
    ])
  })

  it('keeps exposures in an SQLite file across processes, with the same URL', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portway-node-'))
    try {
      const store = path.join(dir, 'portway.db')
      const script = `
        const { Portway } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
        new Portway({ store: process.argv[1] }).sandbox('kept')
          .exposePort(8080, { hostname: 'localhost', name: 'web' })
          .then((e) => process.stdout.write(e.url))`
      const run = spawnSync(process.execPath, ['-e', script, store], { encoding: 'utf8' })
      assert.equal(run.status, 0, run.stderr)
      const url = run.stdout
      assert.match(url, /^http:\/\/8080-kept-[a-z0-9]{16}\.localhost\/$/)
      const { ports } = await new Portway({ store }).sandbox('kept').getExposedPorts('localhost')
      assert.deepEqual(ports, [{ port: 8080, url, name: 'web', status: 'active' }])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('rejects instead of throwing: every async method returns a Promise', async () => {
    const sb = new Portway().sandbox('box')
    const p = sb.exposePort(80, { hostname: 'localhost' })
    assert.ok(p instanceof Promise)
    await assert.rejects(p, (err) => err instanceof PortwayError && err.code === 'INVALID_PORT')
  })
})

describe('gateway options: the core table, the typings and parity.json agree', () => {
  const options = parity.options.GatewayConfig
  const scale = (o) => (o.kind === 'duration' && o.default !== null ? o.default * 1000 : o.default)

  it('gatewayOptionFields() is parity.json (names, kinds, defaults in milliseconds)', () => {
    assert.ok(options.length > 0)
    assert.deepEqual(
      portway.gatewayOptionFields(),
      options.map((o) => ({ name: o.node, kind: o.kind, default: scale(o) })),
    )
  })

  it('index.d.ts declares exactly these GatewayOptions', () => {
    const dts = fs.readFileSync(path.join(REPO, 'node', 'index.d.ts'), 'utf8')
    const body = dts.match(/export interface GatewayOptions \{([\s\S]*?)\n\}/)
    assert.ok(body, 'index.d.ts has no GatewayOptions interface')
    const declared = [...body[1].matchAll(/^\s+(\w+)\?:/gm)].map((m) => m[1])
    assert.deepEqual(declared, options.map((o) => o.node))
  })

  for (const o of options) {
    it(`gateway.${o.node} reaches the core`, () => {
      // A valid value of each text option (forwardedProto takes 'http' or 'https').
      const text = o.rust === 'referrer_policy' ? 'no-referrer' : 'https'
      const good = { bool: !o.default, text, count: 9000, duration: 2500, networks: ['10.0.0.0/8'] }[o.kind]
      // proxyProtocol needs trustedProxies (the core says so).
      const extra = o.node === 'proxyProtocol' ? { trustedProxies: ['10.0.0.1'] } : {}
      assert.ok(new Portway({ gateway: { [o.node]: good, ...extra } }))
      const bad = { bool: 'yes', text: 5, count: 1.5, duration: -1, networks: ['10.0.0.0/33'] }[o.kind]
      assert.throws(
        () => new Portway({ gateway: { [o.node]: bad } }),
        (e) => e instanceof PortwayError && e.code === 'INVALID_CONFIG' && e.message.includes(`gateway.${o.node}`),
      )
    })
  }
})

describe('option types: the typings and parity.json agree', () => {
  const dts = fs.readFileSync(path.join(REPO, 'node', 'index.d.ts'), 'utf8')
  const declared = (iface) => {
    const body = dts.match(new RegExp(`export interface ${iface} \\{([\\s\\S]*?)\\n\\}`))
    assert.ok(body, `index.d.ts has no ${iface} interface`)
    return [...body[1].matchAll(/^\s+(\w+)\?:/gm)].map((m) => m[1])
  }
  // The interface of each option type, and what Node adds that has no core field (parity.json's
  // note "node signal").
  for (const [type, iface, nodeOnly] of [
    ['PortwaySettings', 'PortwayOptions', []],
    ['WaitSettings', 'WaitForPortOptions', ['signal']],
    ['WsConnectSettings', 'WsConnectOptions', ['signal']],
  ]) {
    it(`index.d.ts declares exactly ${iface}: parity.json's ${type}`, () => {
      // status_min and status_max are the one option status: [min, max].
      const listed = [...new Set(parity.options[type].map((o) => o.node))]
      assert.ok(listed.length > 0, `parity.json lists no ${type}`)
      assert.deepEqual(declared(iface), [...listed, ...nodeOnly])
    })
  }

  it('a default Portway shows the listed defaults (its domains, and the rules it validates with)', () => {
    const defaults = Object.fromEntries(parity.options.PortwaySettings.map((o) => [o.rust, o.default]))
    const pw = new Portway()
    const fails = (code, f) => assert.throws(f, (e) => e instanceof PortwayError && e.code === code)
    assert.deepEqual(pw.domains, defaults.domains)
    for (const port of defaults.reserved_ports) fails('INVALID_PORT', () => pw.validatePort(port))
    assert.equal(pw.validatePort(8080), 8080)
    for (const id of defaults.reserved_sandbox_ids) fails('INVALID_SANDBOX_ID', () => pw.validateSandboxId(id))
    for (const suffix of defaults.custom_domain_suffixes) {
      fails('INVALID_CONFIG', () => new Portway({ domains: [`example.${suffix}`] }))
    }
    if (defaults.normalize_id) assert.equal(pw.validateSandboxId('My-Box'), 'my-box')
    else fails('INVALID_SANDBOX_ID', () => pw.validateSandboxId('My-Box'))
    const shortest = defaults.min_token_length
    assert.equal(pw.validateToken('a'.repeat(shortest)), 'a'.repeat(shortest))
    fails('INVALID_TOKEN_FORMAT', () => pw.validateToken('a'.repeat(shortest - 1)))
  })
})
