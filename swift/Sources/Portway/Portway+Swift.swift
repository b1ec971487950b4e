// Swift argument labels for `Portway`'s lookups and its configured rules.

extension Portway {
    /// What the gateway does with a request for `host` (its Host header): not a preview
    /// host, denied, stale (the sandbox is stopped), or forwarded upstream.
    public func resolve(_ host: String) -> Resolution {
        resolve(host: host)
    }

    /// Parses a host into a ``Route`` if it is a preview host under one of this Portway's
    /// domains.
    ///
    /// - Returns: `nil` when it is not.
    public func parsePreviewHost(_ host: String) -> Route? {
        parsePreviewHost(host: host)
    }

    /// A sandbox as stored, or `nil` if there is none with this id.
    public func getSandbox(_ id: String) -> SandboxInfo? {
        getSandbox(id: id)
    }

    /// Checks a port against this Portway's reserved ports.
    ///
    /// - Returns: the port.
    /// - Throws: ``PortwayError`` with code ``PortwayErrorCode/invalidPort``.
    public func validatePort(_ port: some BinaryInteger) throws -> UInt16 {
        try validatePort(port: Int64(clamping: port))
    }

    /// Checks a sandbox id with this Portway's rules.
    ///
    /// - Returns: the id as stored (lowercased when `normalizeId` is on).
    /// - Throws: ``PortwayError`` with code ``PortwayErrorCode/invalidSandboxId``.
    public func validateSandboxId(_ id: String) throws -> String {
        try validateSandboxId(id: id)
    }

    /// Checks a custom token with this Portway's rules (`minTokenLength` to 16 of
    /// `[a-z0-9_]`).
    ///
    /// - Returns: the token.
    /// - Throws: ``PortwayError`` with code ``PortwayErrorCode/invalidTokenFormat``.
    public func validateToken(_ token: String) throws -> String {
        try validateToken(token: token)
    }

    /// Builds a preview URL with this Portway's rules.
    public func buildPreviewUrl(
        port: some BinaryInteger, sandboxId: String, token: String, hostname: String
    ) throws -> String {
        try buildPreviewUrl(
            port: Int64(clamping: port), sandboxId: sandboxId, token: token, hostname: hostname)
    }
}
