import Foundation

// The stable code and the message of every error, and matching errors by code.

extension PortwayError {
    /// The stable code, the same in every language Portway ships in; its `description` is
    /// the code's string (`"INVALID_PORT"`).
    public var code: PortwayErrorCode {
        switch self {
        case .InvalidPort: .invalidPort
        case .InvalidSandboxId: .invalidSandboxId
        case .InvalidHostname: .invalidHostname
        case .CustomDomainRequired: .customDomainRequired
        case .PreviewLabelTooLong: .previewLabelTooLong
        case .InvalidTokenFormat: .invalidTokenFormat
        case .TokenInUse: .tokenInUse
        case .SandboxNotFound: .sandboxNotFound
        case .PortWaitTimeout: .portWaitTimeout
        case .WsConnectFailed: .wsConnectFailed
        case .StoreError: .storeError
        case .GatewayError: .gatewayError
        case .DomainNotConfigured: .domainNotConfigured
        case .InvalidPortName: .invalidPortName
        case .InvalidUpstreamHost: .invalidUpstreamHost
        case .InvalidConfig: .invalidConfig
        case .InvalidArgument: .invalidArgument
        case .WsClosed: .wsClosed
        case .WsError: .wsError
        case .UpstreamForbidden: .upstreamForbidden
        }
    }

    /// The message, naming the rule that was broken.
    public var message: String {
        switch self {
        case .InvalidPort(let message), .InvalidSandboxId(let message),
            .InvalidHostname(let message), .CustomDomainRequired(let message),
            .PreviewLabelTooLong(let message), .InvalidTokenFormat(let message),
            .TokenInUse(let message), .SandboxNotFound(let message),
            .PortWaitTimeout(let message), .WsConnectFailed(let message, _),
            .StoreError(let message), .GatewayError(let message),
            .DomainNotConfigured(let message), .InvalidPortName(let message),
            .InvalidUpstreamHost(let message), .InvalidConfig(let message),
            .InvalidArgument(let message), .WsClosed(let message), .WsError(let message),
            .UpstreamForbidden(let message):
            message
        }
    }

    /// The HTTP status with which a service refused a WebSocket handshake
    /// (``PortwayErrorCode/wsConnectFailed`` only), else `nil`.
    public var httpStatus: UInt16? {
        if case .WsConnectFailed(_, let status) = self { return status }
        return nil
    }
}

extension PortwayError: CustomStringConvertible {}

extension PortwayError: LocalizedError {
    public var errorDescription: String? { message }
}
