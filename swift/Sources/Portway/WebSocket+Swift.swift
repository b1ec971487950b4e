import Foundation

// Sending by message kind, properties, and the messages as an `AsyncSequence`.

extension WebSocket {
    /// Sends a text message.
    ///
    /// - Throws: ``PortwayError`` with code ``PortwayErrorCode/wsClosed`` once the
    ///   connection is closing or closed, `wsError` when the message is too large or the
    ///   connection failed.
    public func send(text: String) async throws {
        try await sendText(text: text)
    }

    /// Sends a binary message.
    ///
    /// - Throws: ``PortwayError`` (see ``send(text:)``).
    public func send(data: Data) async throws {
        try await sendData(data: data)
    }

    /// Sends a message of either kind.
    public func send(_ message: WebSocketMessage) async throws {
        switch message {
        case .text(let text): try await sendText(text: text)
        case .binary(let data): try await sendData(data: data)
        }
    }

    /// The subprotocol the service chose, if any.
    public var `protocol`: String? { getProtocol() }

    /// The close code the service sent once it closed (1005 when it sent none), else `nil`.
    public var closeCode: UInt16? { getCloseCode() }

    /// The close reason the service sent once it closed, else `nil`.
    public var closeReason: String? { getCloseReason() }

    /// Whether the connection is closing or closed.
    public var isClosed: Bool { getIsClosed() }
}

/// The messages of a WebSocket, until the connection closes:
///
/// ```swift
/// for try await message in socket {
///     if case .text(let text) = message { print(text) }
/// }
/// print(socket.closeCode ?? 0, socket.closeReason ?? "")
/// ```
///
/// Each step calls ``WebSocket/recv()``. The sequence ends when the connection closes, and
/// throws ``PortwayError`` when it fails.
extension WebSocket: AsyncSequence {
    public typealias Element = WebSocketMessage

    /// Receives the messages of a ``WebSocket`` one at a time.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let socket: WebSocket

        /// The next message, or `nil` once the connection is closed.
        public mutating func next() async throws -> WebSocketMessage? {
            try await socket.recv()
        }
    }

    /// An iterator over the messages still to come.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(socket: self)
    }
}

extension WebSocketMessage {
    /// The text of a text message, else `nil`.
    public var text: String? {
        if case .text(let text) = self { return text }
        return nil
    }

    /// The bytes of a binary message, else `nil`.
    public var data: Data? {
        if case .binary(let data) = self { return data }
        return nil
    }
}
