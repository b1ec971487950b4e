import Foundation
import Portway
import XCTest

/// Sandbox lifecycle from Swift: activity, idle events, the events stream (an
/// `AsyncSequence`) and the wake hook of `serve`, against the fixture service on 127.0.0.1,
/// started late by the hook where a test says so (docs/spec/lifecycle.md).
final class LifecycleTests: XCTestCase {
    func testActivityCountsRequestsBytesAndWebSocketMessages() async throws {
        let service = try FixtureService.port()
        let portway = try Portway(domains: ["localhost"])
        let gateway = try await portway.serve(listen: "127.0.0.1:0")
        let sandbox = try portway.sandbox(id: "swift-activity")
        XCTAssertEqual(
            sandbox.activity(),
            SandboxActivity(
                sandboxId: "swift-activity", openConnections: 0, websocketSessions: 0, requests: 0,
                bytesReceived: 0, bytesSent: 0, lastActivityAt: nil))
        let exposed = try await sandbox.exposePort(service, hostname: "localhost")
        let host = previewHost(exposed.url)
        let posted = try await fetch(gateway, host: host, path: "/upload", method: "POST", body: Data(count: 1000))
        XCTAssertEqual(posted.status, 200)
        let got = try await fetch(gateway, host: host, path: "/bytes/5000")
        XCTAssertEqual(got.body.count, 5000)
        let a = sandbox.activity()
        XCTAssertEqual(a.requests, 2)
        XCTAssertGreaterThanOrEqual(a.bytesReceived, 1000)
        XCTAssertGreaterThanOrEqual(a.bytesSent, 5000)
        let last = try XCTUnwrap(a.lastActivityAt.flatMap(rfc3339), "\(a)")
        XCTAssertLessThan(abs(last.timeIntervalSinceNow), 60, "\(a)")
        let ports = sandbox.portActivity()
        XCTAssertEqual(ports.map(\.port), [service])
        XCTAssertEqual(ports.first?.requests, 2)
        XCTAssertGreaterThanOrEqual(ports.first?.bytesReceived ?? 0, 1000)
        XCTAssertGreaterThanOrEqual(ports.first?.bytesSent ?? 0, 5000)
        // Read after the total: the end of the last response may fall in between.
        let portLast = try XCTUnwrap(ports.first?.lastActivityAt.flatMap(rfc3339), "\(ports)")
        XCTAssertGreaterThanOrEqual(portLast, last)

        // A WebSocket through the gateway: its messages move the counts both ways.
        let client = try portway.sandbox(id: "swift-activity-client")
        let socket = try await client.wsConnect(gateway.port, path: "/ws", headers: ["Host": host])
        var opened = sandbox.activity()
        for _ in 0..<250 where opened.websocketSessions == 0 {
            try await Task.sleep(nanoseconds: 20_000_000)
            opened = sandbox.activity()
        }
        XCTAssertEqual(opened.websocketSessions, 1)
        try await socket.send(text: "hello")
        let echoed = try await socket.recv()
        XCTAssertEqual(echoed, .text("hello"))
        let after = sandbox.activity()
        XCTAssertGreaterThan(after.bytesReceived, opened.bytesReceived)
        XCTAssertGreaterThan(after.bytesSent, opened.bytesSent)
        XCTAssertGreaterThan(sandbox.portActivity().first?.bytesSent ?? 0, ports.first?.bytesSent ?? 0)
        try await socket.close(code: 1000, reason: "done")
        await gateway.close()
    }

    func testTheRegistrysChangesAreEventsInOrder() async throws {
        let portway = try Portway(domains: ["localhost"])
        let events = portway.events()
        let sandbox = try portway.sandbox(id: "swift-events")
        _ = try await sandbox.exposePort(4000, hostname: "localhost")
        try await sandbox.markStopped()
        try await sandbox.markRunning()
        try await sandbox.unexposePort(4000)
        try await sandbox.destroy()
        // A stream still open after 5 s is closed, which ends the loop (and fails the test).
        let watchdog = closing(events, after: 5)
        defer { watchdog.cancel() }
        var seen: [String] = []
        for await event in events {
            XCTAssertEqual(event.sandboxId, "swift-events")
            XCTAssertNotNil(rfc3339(event.time), event.time)
            seen.append("\(event.kind) \(event.port.map(String.init) ?? "-")")
            if event.kind == "destroyed" { events.close() }
        }
        XCTAssertEqual(seen, ["exposed 4000", "stopped -", "running -", "unexposed 4000", "destroyed -"])
        XCTAssertTrue(events.closed)
    }

    func testIdleFiresOnceAndAgainOnlyAfterNewTraffic() async throws {
        let service = try FixtureService.port()
        let portway = try Portway(domains: ["localhost"], gateway: GatewayConfig(idleAfter: 0.3))
        let gateway = try await portway.serve(listen: "127.0.0.1:0")
        let exposed = try await portway.sandbox(id: "swift-idle").exposePort(service, hostname: "localhost")
        let events = portway.events()
        let first = await nextEvent(events)
        XCTAssertEqual(first?.kind, "idle")
        XCTAssertEqual(first?.sandboxId, "swift-idle")
        events.close()
        let quiet = portway.events()
        let nothing = await nextEvent(quiet, within: 0.7)
        XCTAssertNil(nothing, "no second idle without traffic")
        let again = portway.events()
        let got = try await fetch(gateway, host: previewHost(exposed.url), path: "/")
        XCTAssertEqual(got.status, 200)
        let third = await nextEvent(again)
        XCTAssertEqual(third?.kind, "idle")
        again.close()
        await gateway.close()
    }

    func testASandboxsOwnIdleAfter() async throws {
        let portway = try Portway(domains: ["localhost"])
        let sandbox = try portway.sandbox(id: "swift-own-idle")
        XCTAssertNil(sandbox.idleAfter())
        try sandbox.setIdleAfter(seconds: 0.2)
        XCTAssertEqual(sandbox.idleAfter(), 0.2)
        let events = portway.events()
        _ = try await sandbox.exposePort(4000, hostname: "localhost")
        let exposed = await nextEvent(events)
        XCTAssertEqual(exposed?.kind, "exposed")
        let idle = await nextEvent(events)
        XCTAssertEqual(idle?.kind, "idle")
        events.close()
        XCTAssertThrowsError(try sandbox.setIdleAfter(seconds: -1)) { error in
            XCTAssertEqual((error as? PortwayError)?.code, .invalidArgument)
        }
        try sandbox.setIdleAfter(seconds: nil)
        XCTAssertNil(sandbox.idleAfter())
    }

    func testTwentyRequestsToAStoppedSandboxWakeItOnce() async throws {
        let port = try unusedPort()
        let hook = StartingHook(port: port)
        addTeardownBlock { hook.stop() }
        let portway = try Portway(domains: ["localhost"])
        let gateway = try await portway.serve(listen: "127.0.0.1:0", wake: hook)
        let sandbox = try portway.sandbox(id: "swift-wake")
        let exposed = try await sandbox.exposePort(port, hostname: "localhost")
        let host = previewHost(exposed.url)
        try await sandbox.markStopped()
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask { try await fetch(gateway, host: host, path: "/status/200").status }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(statuses, Array(repeating: 200, count: 20))
        XCTAssertEqual(hook.calls, [WakeRequest(sandboxId: "swift-wake", port: port)])
        XCTAssertEqual(portway.getSandbox("swift-wake")?.status, .running)

        // A WebSocket handshake wakes it too.
        try await sandbox.markStopped()
        let client = try portway.sandbox(id: "swift-wake-client")
        let socket = try await client.wsConnect(gateway.port, path: "/ws", headers: ["Host": host])
        try await socket.send(text: "hi")
        let echoed = try await socket.recv()
        XCTAssertEqual(echoed, .text("hi"))
        XCTAssertEqual(hook.calls.count, 2)
        try await socket.close(code: 1000, reason: "done")
        await gateway.close()
    }

    func testAFailingHookGives503WithItsReason() async throws {
        let portway = try Portway(domains: ["localhost"])
        let hook = FailingHook()
        let gateway = try await portway.serve(listen: "127.0.0.1:0", wake: hook)
        let sandbox = try portway.sandbox(id: "swift-fail")
        let exposed = try await sandbox.exposePort(try unusedPort(), hostname: "localhost")
        try await sandbox.markStopped()
        let got = try await fetch(gateway, host: previewHost(exposed.url), path: "/")
        XCTAssertEqual(got.status, 503)
        let body = try JSON.parse(got.body)
        XCTAssertEqual(body["code"], .string("SANDBOX_WAKE_FAILED"))
        XCTAssertTrue(body["reason"]?.string?.contains("no capacity") ?? false, "\(body)")
        XCTAssertEqual(hook.log.calls, [WakeRequest(sandboxId: "swift-fail", port: exposed.port)])
        XCTAssertEqual(portway.getSandbox("swift-fail")?.status, .stopped)
        await gateway.close()
    }

    func testAHookThatNeverAnswersTimesOutAndABrowserGetsTheStartingPage() async throws {
        let portway = try Portway(
            domains: ["localhost"], gateway: GatewayConfig(wakeTimeout: 0.5, wakePageAfter: 0.2))
        let hook = HangingHook()
        let gateway = try await portway.serve(listen: "127.0.0.1:0", wake: hook)
        let sandbox = try portway.sandbox(id: "swift-hang")
        let exposed = try await sandbox.exposePort(try unusedPort(), hostname: "localhost")
        let host = previewHost(exposed.url)
        try await sandbox.markStopped()
        let timedOut = try await fetch(gateway, host: host, path: "/")
        XCTAssertEqual(timedOut.status, 504)
        XCTAssertEqual(try JSON.parse(timedOut.body)["code"], .string("SANDBOX_WAKE_TIMEOUT"))
        XCTAssertEqual(hook.log.calls.count, 1)
        let page = try await fetch(gateway, host: host, path: "/", headers: ["Accept": "text/html"])
        XCTAssertEqual(page.status, 503)
        XCTAssertEqual(page.response.value(forHTTPHeaderField: "Retry-After"), "2")
        let html = String(decoding: page.body, as: UTF8.self)
        XCTAssertTrue(html.contains("http-equiv=\"refresh\""), html)
        XCTAssertTrue(html.contains("SANDBOX_STARTING"), html)
        XCTAssertEqual(hook.log.calls.count, 2, "a request after a timed-out wake calls the hook again")
        await gateway.close()
    }

    func testASandboxDestroyedWhileRequestsAreHeldReleasesThemWith404() async throws {
        // The hook answers at once, the port never opens: the request is held until the
        // sandbox is destroyed (wake_timeout, 30 s, is far beyond the fetch's 10 s).
        let hook = AnsweringHook()
        let portway = try Portway(domains: ["localhost"], gateway: GatewayConfig(wakeTimeout: 30))
        let gateway = try await portway.serve(listen: "127.0.0.1:0", wake: hook)
        let sandbox = try portway.sandbox(id: "swift-held")
        let exposed = try await sandbox.exposePort(try unusedPort(), hostname: "localhost")
        try await sandbox.markStopped()
        let held = Task { try await fetch(gateway, host: previewHost(exposed.url), path: "/") }
        for _ in 0..<250 where hook.log.calls.isEmpty {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        XCTAssertEqual(hook.log.calls.count, 1, "the held request called the hook")
        try await sandbox.destroy()
        let got = try await held.value
        XCTAssertEqual(got.status, 404)
        XCTAssertEqual(try JSON.parse(got.body)["code"], .string("INVALID_TOKEN"))
        await gateway.close()
    }

    /// The four lifecycle settings are `GatewayConfig` fields, `nil` (the core's default) unless
    /// given; parity.json's defaults are accepted as values, and a zero wake timeout is not.
    func testTheLifecycleOptionsReadBackWithTheirDefaults() throws {
        let config = GatewayConfig()
        XCTAssertNil(config.idleAfter)
        XCTAssertNil(config.websocketsKeepActive)
        XCTAssertNil(config.wakeTimeout)
        XCTAssertNil(config.wakePageAfter)
        let given = GatewayConfig(idleAfter: 0.3, websocketsKeepActive: true, wakeTimeout: 5, wakePageAfter: 1)
        XCTAssertEqual(given.idleAfter, 0.3)
        XCTAssertEqual(given.websocketsKeepActive, true)
        XCTAssertEqual(given.wakeTimeout, 5)
        XCTAssertEqual(given.wakePageAfter, 1)
        let parity = try loadJSON("tests/api/parity.json")
        let options = try XCTUnwrap(parity["options"]?["GatewayConfig"]?.array)
        var defaults: [String: JSON] = [:]
        for o in options { if let name = o["swift"]?.string { defaults[name] = o["default"] } }
        XCTAssertEqual(defaults["idleAfter"]?.number, 0)
        XCTAssertEqual(defaults["websocketsKeepActive"]?.bool, false)
        XCTAssertEqual(defaults["wakeTimeout"]?.number, 60)
        XCTAssertEqual(defaults["wakePageAfter"]?.number, 3)
        XCTAssertNoThrow(
            try Portway(
                gateway: GatewayConfig(
                    idleAfter: defaults["idleAfter"]?.number,
                    websocketsKeepActive: defaults["websocketsKeepActive"]?.bool,
                    wakeTimeout: defaults["wakeTimeout"]?.number,
                    wakePageAfter: defaults["wakePageAfter"]?.number)))
        XCTAssertThrowsError(try Portway(gateway: GatewayConfig(wakeTimeout: 0))) { error in
            XCTAssertEqual((error as? PortwayError)?.code, .invalidConfig)
            XCTAssertTrue((error as? PortwayError)?.message.contains("wake_timeout") ?? false, "\(error)")
        }
    }
}

/// Counts its calls and, on the first, starts the fixture service on `port` 0.3 s later (a
/// sandbox's service coming up late).
final class StartingHook: WakeHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [WakeRequest] = []
    private var process: Process?
    private var input: Pipe?
    let port: UInt16

    init(port: UInt16) { self.port = port }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    var calls: [WakeRequest] { locked { seen } }

    func wake(request: WakeRequest) async throws {
        let first = locked { () -> Bool in
            seen.append(request)
            return seen.count == 1
        }
        guard first else { return }
        Task.detached {
            try await Task.sleep(nanoseconds: 300_000_000)
            try self.start()
        }
    }

    private func start() throws {
        let env = ProcessInfo.processInfo.environment["PORTWAY_FIXTURE"] ?? ""
        let path = env.isEmpty ? repositoryRoot.appendingPathComponent("target/debug/portway-fixture").path : env
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--port", String(port)]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = Pipe()
        try process.run()
        locked {
            self.process = process
            self.input = input
        }
    }

    func stop() {
        locked {
            try? input?.fileHandleForWriting.close()
            process?.waitUntilExit()
        }
    }
}

/// The wake requests a hook was called with, in order (hooks are called from any thread).
final class CallLog: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [WakeRequest] = []

    func record(_ request: WakeRequest) {
        lock.lock()
        defer { lock.unlock() }
        seen.append(request)
    }

    var calls: [WakeRequest] {
        lock.lock()
        defer { lock.unlock() }
        return seen
    }
}

struct NoCapacity: Error, CustomStringConvertible {
    var description: String { "no capacity left" }
}

/// Fails every wake with an error whose description is the reason.
final class FailingHook: WakeHandler {
    let log = CallLog()

    func wake(request: WakeRequest) async throws {
        log.record(request)
        throw NoCapacity()
    }
}

/// Never answers (until the gateway's wake_timeout cancels it).
final class HangingHook: WakeHandler {
    let log = CallLog()

    func wake(request: WakeRequest) async throws {
        log.record(request)
        try await Task.sleep(nanoseconds: 3_600_000_000_000)
    }
}

/// Says the start is under way and starts nothing.
final class AnsweringHook: WakeHandler {
    let log = CallLog()

    func wake(request: WakeRequest) async throws {
        log.record(request)
    }
}

/// The next event of `stream`, or `nil` if none came within `seconds` (the stream is then
/// closed, which ends the waiting `next()`).
func nextEvent(_ stream: EventStream, within seconds: Double = 5) async -> LifecycleEvent? {
    let watchdog = closing(stream, after: seconds)
    defer { watchdog.cancel() }
    return await stream.next()
}

/// Closes `stream` after `seconds` unless cancelled first.
func closing(_ stream: EventStream, after seconds: Double) -> Task<Void, Never> {
    Task {
        guard (try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))) != nil else { return }
        stream.close()
    }
}

/// An RFC 3339 time as the core writes it (UTC, milliseconds), or `nil` if it is not one.
func rfc3339(_ text: String) -> Date? {
    guard text.hasSuffix("Z") else { return nil }
    let format = ISO8601DateFormatter()
    format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return format.date(from: text)
}
