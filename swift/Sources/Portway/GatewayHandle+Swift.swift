// Properties of a running gateway.

extension GatewayHandle {
    /// The address the gateway listens on, `host:port` (with the port the OS chose when
    /// serving on port 0), such as `"127.0.0.1:49152"`.
    public var localAddr: String { getLocalAddr() }

    /// The port the gateway listens on.
    public var port: UInt16 { getPort() }
}
