import Foundation

/// The lifecycle events of a ``Portway`` as an `AsyncSequence`:
///
/// ```swift
/// for await event in portway.events() {
///     if event.kind == "idle" { try await stopContainer(event.sandboxId) }
/// }
/// ```
///
/// Each step calls ``EventStream/next()``. The sequence ends once the stream is closed
/// (``EventStream/close()``, or the stream released).
extension EventStream: AsyncSequence {
    public typealias Element = LifecycleEvent

    /// Receives the events of an ``EventStream`` one at a time.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: EventStream

        /// The next event, or `nil` once the stream is closed.
        public mutating func next() async -> LifecycleEvent? {
            await stream.next()
        }
    }

    /// An iterator over the events.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(stream: self)
    }

    /// Whether the stream was closed.
    public var closed: Bool { isClosed() }
}
