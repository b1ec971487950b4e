'use strict'
// The package's entry point: the native binding that the napi CLI generates (binding.js,
// typed by the generated index.d.ts), plus PortwayError, the one piece that must be plain
// JavaScript so that `instanceof` and subclassing work as for any Error. The binding builds
// every error it throws or rejects with from this class, on the JavaScript thread.
//
// `module.exports = require(...)` and the assignments below are what Node's CommonJS
// named-export detection reads, so `import { Portway } from 'portway'` works as well.

module.exports = require('./binding.js')

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
