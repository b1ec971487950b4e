// The pure functions with Swift argument labels. The generated ones (`validatePort(port:)`,
// ...) stay available; these take any integer type for a port.

/// Parses a host (a Host header, with or without a port) into a ``Route`` with the default
/// rules and no domain check.
///
/// ```swift
/// let route = parsePreviewHost("8080-my-box-token123.localhost:8787")
/// // Route(port: 8080, sandboxId: "my-box", token: "token123")
/// ```
///
/// - Returns: `nil` when `host` is not a preview host.
public func parsePreviewHost(_ host: String) -> Route? {
    parsePreviewHost(host: host)
}

/// Checks a port with the default rules: 1024...65535, and not the reserved 3000.
///
/// - Returns: the port.
/// - Throws: ``PortwayError`` with code ``PortwayErrorCode/invalidPort``.
public func validatePort(_ port: some BinaryInteger) throws -> UInt16 {
    try validatePort(port: Int64(clamping: port))
}

/// Checks a sandbox id with the default rules: 1 to 63 of `[a-z0-9-]`, no `-` at either end,
/// not a reserved name.
///
/// - Returns: the id.
/// - Throws: ``PortwayError`` with code ``PortwayErrorCode/invalidSandboxId``.
public func validateSandboxId(_ id: String) throws -> String {
    try validateSandboxId(id: id)
}

/// Checks a custom token with the default rules: 8 to 16 of `[a-z0-9_]`.
///
/// - Returns: the token.
/// - Throws: ``PortwayError`` with code ``PortwayErrorCode/invalidTokenFormat``.
public func validateToken(_ token: String) throws -> String {
    try validateToken(token: token)
}

/// Builds `{scheme}://{port}-{sandboxId}-{token}.{hostname}/` with the default rules
/// (`http` for `localhost` and `*.localhost`, `https` otherwise).
///
/// ```swift
/// try buildPreviewUrl(port: 8080, sandboxId: "my-box", token: "token123", hostname: "example.com")
/// // "https://8080-my-box-token123.example.com/"
/// ```
///
/// - Throws: ``PortwayError``: the port, then the sandbox id, the token format and the host
///   name are checked, in that order.
public func buildPreviewUrl(
    port: some BinaryInteger, sandboxId: String, token: String, hostname: String
) throws -> String {
    try buildPreviewUrl(
        port: Int64(clamping: port), sandboxId: sandboxId, token: token, hostname: hostname)
}
