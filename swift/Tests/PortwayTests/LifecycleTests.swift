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
        XCTAssertTrue(a.lastActivityAt?.hasSuffix("Z") ?? false, "\(a)")
        XCTAssertEqual(sandbox.portActivity().map(\.port), [service])

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
        var seen: [String] = []
        for await event in events {
            XCTAssertEqual(event.sandboxId, "swift-events")
            XCTAssertTrue(event.time.hasSuffix("Z"))
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
        let first = await events.next()
        XCTAssertEqual(first?.kind, "idle")
        XCTAssertEqual(first?.sandboxId, "swift-idle")
        events.close()
        let quiet = portway.events()
        let second = Task { await quiet.next() }
        try await Task.sleep(nanoseconds: 700_000_000)
        quiet.close()
        let nothing = await second.value
        XCTAssertNil(nothing, "no second idle without traffic")
        let again = portway.events()
        let got = try await fetch(gateway, host: previewHost(exposed.url), path: "/")
        XCTAssertEqual(got.status, 200)
        let third = await again.next()
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
        let exposed = await events.next()
        XCTAssertEqual(exposed?.kind, "exposed")
        let idle = await events.next()
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
        hook.stop()
    }

    func testAFailingHookGives503WithItsReason() async throws {
        let portway = try Portway(domains: ["localhost"])
        let gateway = try await portway.serve(listen: "127.0.0.1:0", wake: FailingHook())
        let sandbox = try portway.sandbox(id: "swift-fail")
        let exposed = try await sandbox.exposePort(try unusedPort(), hostname: "localhost")
        try await sandbox.markStopped()
        let got = try await fetch(gateway, host: previewHost(exposed.url), path: "/")
        XCTAssertEqual(got.status, 503)
        let body = try JSON.parse(got.body)
        XCTAssertEqual(body["code"], .string("SANDBOX_WAKE_FAILED"))
        XCTAssertTrue(body["reason"]?.string?.contains("no capacity") ?? false, "\(body)")
        await gateway.close()
    }

    func testAHookThatNeverAnswersTimesOutAndABrowserGetsTheStartingPage() async throws {
        let portway = try Portway(
            domains: ["localhost"], gateway: GatewayConfig(wakeTimeout: 0.5, wakePageAfter: 0.2))
        let gateway = try await portway.serve(listen: "127.0.0.1:0", wake: HangingHook())
        let sandbox = try portway.sandbox(id: "swift-hang")
        let exposed = try await sandbox.exposePort(try unusedPort(), hostname: "localhost")
        let host = previewHost(exposed.url)
        try await sandbox.markStopped()
        let timedOut = try await fetch(gateway, host: host, path: "/")
        XCTAssertEqual(timedOut.status, 504)
        XCTAssertEqual(try JSON.parse(timedOut.body)["code"], .string("SANDBOX_WAKE_TIMEOUT"))
        let page = try await fetch(gateway, host: host, path: "/", headers: ["Accept": "text/html"])
        XCTAssertEqual(page.status, 503)
        XCTAssertEqual(page.response.value(forHTTPHeaderField: "Retry-After"), "2")
        let html = String(decoding: page.body, as: UTF8.self)
        XCTAssertTrue(html.contains("http-equiv=\"refresh\""), html)
        XCTAssertTrue(html.contains("SANDBOX_STARTING"), html)
        await gateway.close()
    }

    func testTheLifecycleOptionsReadBackWithTheirDefaults() {
        let config = GatewayConfig()
        XCTAssertNil(config.idleAfter)
        let parity = try? loadJSON("tests/api/parity.json")
        let names = parity?["options"]?["GatewayConfig"]?.array?.compactMap { $0["swift"]?.string } ?? []
        for name in ["idleAfter", "websocketsKeepActive", "wakeTimeout", "wakePageAfter"] {
            XCTAssertTrue(names.contains(name), name)
        }
        XCTAssertThrowsError(try Portway(gateway: GatewayConfig(wakeTimeout: 0))) { error in
            XCTAssertEqual((error as? PortwayError)?.code, .invalidConfig)
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

struct NoCapacity: Error, CustomStringConvertible {
    var description: String { "no capacity left" }
}

final class FailingHook: WakeHandler {
    func wake(request: WakeRequest) async throws {
        throw NoCapacity()
    }
}

final class HangingHook: WakeHandler {
    func wake(request: WakeRequest) async throws {
        try await Task.sleep(nanoseconds: 3_600_000_000_000)
    }
}
