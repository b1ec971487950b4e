// The public API as a TypeScript user writes it; `tsc --noEmit --strict` must accept it
// (node/test.sh runs it). It is type-checked, not run: the behaviour is tested elsewhere.

import {
  Portway,
  PortwayError,
  buildPreviewUrl,
  errorCodes,
  generateToken,
  parsePreviewHost,
  validatePort,
  validateSandboxId,
  validateToken,
  type ErrorCode,
  type ExposedPort,
  type ExposedPortInfo,
  type GatewayHandle,
  type PortwayOptions,
  type Resolution,
  type Route,
  type Sandbox,
  type SandboxInfo,
  type WebSocket,
  type EventStream,
  type LifecycleEvent,
  type PortActivity,
  type SandboxActivity,
  type WakeRequest,
} from 'portway'

const url: string = buildPreviewUrl(8080, 'my-box', 'token123', 'localhost:8787')
const route: Route | null = parsePreviewHost(new URL(url).host)
const port: number = validatePort(route?.port ?? 8080)
const id: string = validateSandboxId('my-box')
const token: string = validateToken(generateToken())
const codes: ErrorCode[] = errorCodes()

const options: PortwayOptions = {
  domains: ['localhost', 'preview.example.com'],
  store: ':memory:',
  reservedPorts: [3000, 9000],
  reservedSandboxIds: ['www'],
  customDomainSuffixes: ['workers.dev'],
  normalizeId: false,
  minTokenLength: 8,
  gateway: { maxConnections: 1000, idleTimeoutMs: 60_000, forwardedProto: 'https', rewriteHost: true },
}

export async function usesEverything(): Promise<void> {
  const portway = new Portway(options)
  const domains: string[] = portway.domains
  const sandbox: Sandbox = portway.sandbox(id, { upstreamHost: '127.0.0.1' })
  const sandboxId: string = sandbox.id
  const upstream: string = sandbox.upstreamHost

  const exposed: ExposedPort = await sandbox.exposePort(port, { hostname: 'localhost', name: 'web', token })
  const shown: string = exposed.exposedAt
  const name: string | null = exposed.name
  const { ports }: { ports: ExposedPortInfo[] } = await sandbox.getExposedPorts('localhost')
  const status: 'active' | 'inactive' | undefined = ports[0]?.status
  const exposedNow: boolean = await sandbox.isPortExposed(port)
  const valid: boolean = await sandbox.validatePortToken(port, token)
  await sandbox.unexposePort(port)

  const controller = new AbortController()
  await sandbox.waitForPort(port, { mode: 'http', path: '/health', status: [200, 299], timeoutMs: 5000, intervalMs: 100, signal: controller.signal })
  await sandbox.waitForPort(port, { mode: 'tcp', status: { min: 200, max: 399 } })

  const ws: WebSocket = await sandbox.wsConnect(port, { path: '/ws', headers: { origin: 'http://localhost' }, subprotocols: ['chat'], maxMessageSize: 1 << 20, signal: AbortSignal.timeout(5000) })
  await ws.send('text')
  await ws.send(Buffer.from([1, 2, 3]))
  await ws.send(new Uint8Array([4, 5]))
  const one: string | Buffer | null = await ws.recv()
  for await (const msg of ws) {
    const text: string = typeof msg === 'string' ? msg : msg.toString('utf8')
    void text
  }
  const protocol: string | null = ws.protocol
  const closeCode: number | null = ws.closeCode
  const closeReason: string | null = ws.closeReason
  await ws.close(4001, 'bye')

  const woken = new Portway({ gateway: { idleAfterMs: 900_000, wakeTimeoutMs: 60_000, wakePageAfterMs: 3000, websocketsKeepActive: false } })
  const wakeGateway: GatewayHandle = await woken.serve({
    listen: '127.0.0.1:0',
    wake: async (req: WakeRequest) => {
      const started: string = `${req.sandboxId}:${req.port}`
      void started
    },
  })
  const activity: SandboxActivity = sandbox.activity()
  const last: string | null = activity.lastActivityAt
  const perPort: PortActivity[] = sandbox.portActivity()
  sandbox.setIdleAfter(120_000)
  sandbox.setIdleAfter(null)
  const ownIdle: number | null = sandbox.idleAfter()
  const events: EventStream = woken.events()
  for await (const event of events) {
    const what: LifecycleEvent = event
    const kind: string = what.kind
    const eventPort: number | null = what.port
    void [kind, eventPort]
    break
  }
  const next: LifecycleEvent | null = await events.next()
  events.close()
  void [last, perPort, ownIdle, next]
  await wakeGateway.close()
  {
    await using disposed: WebSocket = await sandbox.wsConnect(port)
    await disposed.send('closed at the end of this block')
  }

  await sandbox.markStopped()
  await sandbox.markRunning()
  await sandbox.destroy()

  const resolution: Resolution = portway.resolve('8080-my-box-token123.localhost')
  if (resolution.kind === 'upstream') {
    const where: string | undefined = resolution.upstreamHost
    void where
  }
  const info: SandboxInfo | null = portway.getSandbox(id)
  const all: SandboxInfo[] = portway.sandboxes()
  const checked: [number, string, string, string, Route | null] = [
    portway.validatePort(8080),
    portway.validateSandboxId(id),
    portway.validateToken(token),
    portway.buildPreviewUrl(8080, id, token, 'localhost'),
    portway.parsePreviewHost('8080-my-box-token123.localhost'),
  ]

  {
    await using gateway = await portway.serve({ listen: '127.0.0.1:0' })
    const addr: string = gateway.localAddr
    const gatewayPort: number = gateway.port
    const metrics: string = gateway.metrics()
    void [addr, gatewayPort, metrics]
  }
  const gateway: GatewayHandle = await portway.serve()
  gateway.unref()
  gateway.ref()
  await gateway.shutdown(1000)
  await gateway.close()

  try {
    await sandbox.exposePort(80, { hostname: 'localhost' })
  } catch (err) {
    if (err instanceof PortwayError) {
      const code: ErrorCode = err.code
      const httpStatus: number | undefined = err.status
      void [code, httpStatus]
    }
  }

  void [domains, sandboxId, upstream, shown, name, status, exposedNow, valid, one, protocol, closeCode, closeReason, info, all, checked, codes]
}

// @ts-expect-error: hostname is required
void new Portway().sandbox('box').exposePort(8080, {})
// @ts-expect-error: not a wait mode
void new Portway().sandbox('box').waitForPort(8080, { mode: 'udp' })
