import Foundation

// Properties and Swift argument labels for `Sandbox`. Every call that writes the store or
// touches the network is `async` and runs on the library's own multi-thread runtime.

extension Sandbox {
    /// The sandbox id (lowercased when the Portway normalises ids).
    public var id: String { getId() }

    /// Where the sandbox's services listen (`127.0.0.1` unless given).
    public var upstreamHost: String { getUpstreamHost() }

    /// Publishes `port` at a preview URL under `hostname`.
    ///
    /// The token is `token` if given, else the one the port already has (so re-exposing
    /// keeps the URL), else a new random one. Nothing has to listen on the port yet.
    ///
    /// ```swift
    /// let exposed = try await sandbox.exposePort(8080, hostname: "localhost:8787", name: "web")
    /// print(exposed.url) // http://8080-my-box-<token>.localhost:8787/
    /// ```
    ///
    /// - Parameters:
    ///   - port: 1024...65535, not a reserved port.
    ///   - hostname: one of the Portway's domains, with an optional `:port`.
    ///   - name: a label for the port, returned by ``getExposedPorts(hostname:)``.
    ///   - token: a custom token, 8 to 16 of `[a-z0-9_]`.
    /// - Throws: ``PortwayError``: `invalidPort`, `invalidHostname`, `domainNotConfigured`,
    ///   `customDomainRequired`, `invalidPortName`, `invalidTokenFormat`,
    ///   `previewLabelTooLong`, `tokenInUse`, `storeError`.
    public func exposePort(
        _ port: some BinaryInteger, hostname: String, name: String? = nil, token: String? = nil
    ) async throws -> ExposedPort {
        try await exposePort(port: Int64(clamping: port), hostname: hostname, name: name, token: token)
    }

    /// Withdraws a port: its URL answers 404. Unexposing a port that is not exposed succeeds.
    public func unexposePort(_ port: some BinaryInteger) async throws {
        try await unexposePort(port: Int64(clamping: port))
    }

    /// Whether `port` is exposed (`false` for an invalid port).
    public func isPortExposed(_ port: some BinaryInteger) async -> Bool {
        await isPortExposed(port: Int64(clamping: port))
    }

    /// Whether `token` is the token of `port`, compared in constant time (`false` for an
    /// invalid port).
    public func validatePortToken(_ port: some BinaryInteger, token: String) async -> Bool {
        await validatePortToken(port: Int64(clamping: port), token: token)
    }

    /// Waits until the service on `port` is ready: the replacement for `sleep(2)` after
    /// starting a server.
    ///
    /// ```swift
    /// try await sandbox.waitForPort(8080, path: "/health", timeout: 10)
    /// ```
    ///
    /// - Parameters:
    ///   - mode: `.http` (default): ready when `GET path` answers within `statusRange`;
    ///     `.tcp`: ready when a connection is accepted.
    ///   - path: the path requested in HTTP mode (default `/`).
    ///   - statusRange: the accepted statuses (default `200...399`).
    ///   - timeout: how long to keep trying, in seconds (default 30).
    ///   - interval: the pause between attempts, in seconds (default 0.1).
    /// - Throws: ``PortwayError`` with code ``PortwayErrorCode/portWaitTimeout`` when the
    ///   service is not ready in time, `invalidArgument` for unusable options.
    public func waitForPort(
        _ port: some BinaryInteger,
        mode: WaitMode? = nil,
        path: String? = nil,
        statusRange: ClosedRange<Int>? = nil,
        timeout: TimeInterval? = nil,
        interval: TimeInterval? = nil
    ) async throws {
        try await waitForPort(
            port: Int64(clamping: port),
            mode: mode,
            path: path,
            statusMin: statusRange.map { Int64(clamping: $0.lowerBound) },
            statusMax: statusRange.map { Int64(clamping: $0.upperBound) },
            timeout: timeout,
            interval: interval
        )
    }

    /// Opens a WebSocket to the service on `port` of this sandbox
    /// (`ws://{upstreamHost}:{port}{path}`, sent with `Host: localhost:{port}`). The port
    /// needs no exposure.
    ///
    /// ```swift
    /// let socket = try await sandbox.wsConnect(8080, path: "/ws")
    /// try await socket.send(text: "hello")
    /// for try await message in socket { print(message) }
    /// ```
    ///
    /// - Parameters:
    ///   - path: the path and query (default `/`).
    ///   - headers: extra request headers (cookies, authorization, origin).
    ///   - subprotocols: the subprotocols offered, preferred first; ``WebSocket/protocol``
    ///     tells which one the service chose.
    ///   - maxMessageSize: the largest message sent or received, in bytes (default 16 MiB).
    ///   - connectTimeout: how long the connect and the handshake may take, in seconds
    ///     (default 10).
    /// - Throws: ``PortwayError`` with code ``PortwayErrorCode/wsConnectFailed`` (with
    ///   ``PortwayError/httpStatus`` when the service refused the upgrade), `invalidPort`,
    ///   `invalidArgument`.
    public func wsConnect(
        _ port: some BinaryInteger,
        path: String = "/",
        headers: [String: String] = [:],
        subprotocols: [String] = [],
        maxMessageSize: UInt64? = nil,
        connectTimeout: TimeInterval? = nil
    ) async throws -> WebSocket {
        try await wsConnect(
            port: Int64(clamping: port),
            path: path,
            headers: headers,
            subprotocols: subprotocols,
            maxMessageSize: maxMessageSize,
            connectTimeout: connectTimeout
        )
    }
}
