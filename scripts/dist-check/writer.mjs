// A control plane in Node on the shared Redis store: exposes ports of one sandbox (the
// shared ones another control plane exposes at the same time, and its own), and prints
// {port: url} as JSON. Run by scripts/dist-check.sh beside writer.py.
import { Portway } from 'portway'

const portway = new Portway({ domains: ['localhost'], store: process.env.REDIS_URL })
const sandbox = portway.sandbox('shared')
const own = Number(process.env.OWN_BASE)
const urls = {}
for (let i = 0; i < 50; i++) {
  for (const port of [20000 + i, own + i]) {
    urls[port] = (await sandbox.exposePort(port, { hostname: 'localhost' })).url
  }
}
console.log(JSON.stringify(urls))
