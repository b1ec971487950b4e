'use strict'
// The package's entry point: the native binding that the napi CLI generates (binding.js,
// typed by the generated index.d.ts), plus PortwayError, the one piece that must be plain
// JavaScript so that `instanceof` and subclassing work as for any Error. The binding builds
// every error it throws or rejects with from this class, on the JavaScript thread.
//
// `module.exports = require(...)` and the assignments below are what Node's CommonJS
// named-export detection reads, so `import { Portway } from 'portway'` works as well.

// The addon: this package's own .node file (a clone's build), else the platform package npm
// installed as an optional dependency (portway-linux-x64-gnu, ...). Without either, an error
// that names the platform and how to build from source; the loader's own errors are kept,
// unprinted, as its `loadErrors`. (The assignment stays `module.exports = require(...)`, the form Node's named-export
// detection reads.)
try {
  module.exports = require('./binding.js')
} catch (e) {
  throw noAddon(e)
}

function noAddon(cause) {
  const platform = `${process.platform}-${process.arch}`
  const err = new Error(
    `portway: no native addon for ${platform} could be loaded. Prebuilt addons ship as ` +
      `the optional packages portway-<platform> (portway-linux-x64-gnu, ...); none was ` +
      `installed for ${platform} (no prebuilt package for this platform, or optional ` +
      'dependencies were skipped). To build it from source, install Rust ' +
      '(https://rustup.rs) and install from a clone: git clone ' +
      'https://github.com/portway-dev/portway && npm install ./portway/node',
  )
  err.code = 'ERR_PORTWAY_NO_ADDON'
  Object.defineProperty(err, 'loadErrors', { value: cause, enumerable: false })
  return err
}

// The two functions a server may call once per request are plain Node-API callbacks rather
// than napi-rs functions (bindings/node/src/fast_path.rs says why, with the measurements).
// `parsePreviewHost` gets from Rust where the route lies in the host, packed into one number
// (the port from bit 15, the sandbox id's start from bit 12, its end from bit 6, the token's
// end in bits 0-5; -1 when the host is not a preview host), and builds the object here.
const locatePreviewRoute = module.exports.__locatePreviewRoute
module.exports.buildPreviewUrl = module.exports.__buildPreviewUrl
module.exports.parsePreviewHost = function parsePreviewHost(host) {
  const at = locatePreviewRoute(host)
  if (at < 0) return null
  const idEnd = (at >> 6) & 63
  return {
    port: at >>> 15,
    // A host is case-insensitive; the label Rust accepted is ASCII.
    sandboxId: host.slice((at >> 12) & 7, idEnd).toLowerCase(),
    token: host.slice(idEnd + 1, at & 63).toLowerCase(),
  }
}
delete module.exports.__locatePreviewRoute
delete module.exports.__buildPreviewUrl

// An EventStream is an async iterable: `for await (const event of portway.events())`.
// Leaving the loop (break, return, throw) closes it.
module.exports.EventStream.prototype[Symbol.asyncIterator] = function eventIterator() {
  const stream = this
  return {
    async next() {
      const event = await stream.next()
      return event === null ? { value: undefined, done: true } : { value: event, done: false }
    },
    async return() {
      stream.close()
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
}

/**
 * Every error Portway throws, and every error its Promises reject with (except an
 * AbortSignal's own reason). `code` is the stable code (see `errorCodes()`); `status` is
 * the HTTP status of a refused WebSocket handshake (`WS_CONNECT_FAILED`).
 */
class PortwayError extends Error {
  /**
   * @param {string} message
   * @param {import('./index').ErrorCode} code
   */
  constructor(message, code) {
    super(message)
    this.code = code
  }

  get name() {
    return 'PortwayError'
  }
}

module.exports.__registerErrorClass(PortwayError)
delete module.exports.__registerErrorClass
module.exports.PortwayError = PortwayError
