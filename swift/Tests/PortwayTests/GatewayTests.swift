import Foundation
import Portway
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A real gateway in front of a real service (the fixture service, Support/Fixture.swift):
/// HTTP through the gateway with URLSession, WebSockets with `wsConnect`, directly and through
/// the gateway, the lifecycle as the API reports it, and a file store that survives a
/// restart. What the gateway does to each request (forwarding headers, pass-through, every
/// refusal) is tests/vectors/gateway.json, run by GatewayVectorTests.
final class GatewayTests: XCTestCase {
    func testHttpThroughTheGateway() async throws {
        let service = try FixtureService.port()
        let portway = try Portway(domains: ["localhost"])
        let gateway = try await portway.serve(listen: "127.0.0.1:0")
        XCTAssertEqual(gateway.localAddr, "127.0.0.1:\(gateway.port)")
        let sandbox = try portway.sandbox(id: "swift-http")
        XCTAssertEqual(sandbox.id, "swift-http")
        XCTAssertEqual(sandbox.upstreamHost, "127.0.0.1")
        try await sandbox.waitForPort(service, path: "/ready", timeout: 5)

        let exposed = try await sandbox.exposePort(service, hostname: "localhost:\(gateway.port)", name: "web")
        XCTAssertEqual(exposed.port, service)
        XCTAssertEqual(exposed.name, "web")
        XCTAssertTrue(exposed.url.hasPrefix("http://\(service)-swift-http-"), exposed.url)
        XCTAssertTrue(exposed.url.hasSuffix(".localhost:\(gateway.port)/"), exposed.url)
        let host = previewHost(exposed.url)
        let route = try XCTUnwrap(portway.parsePreviewHost(host))
        XCTAssertEqual(route.sandboxId, "swift-http")
        XCTAssertEqual(
            portway.resolve(host),
            .upstream(sandboxId: "swift-http", port: service, upstreamHost: "127.0.0.1"))
        let listed = try await sandbox.getExposedPorts(hostname: "localhost:\(gateway.port)")
        XCTAssertEqual(listed, [ExposedPortInfo(port: service, url: exposed.url, name: "web", status: .active)])
        XCTAssertEqual(
            portway.getSandbox("swift-http"),
            SandboxInfo(id: "swift-http", upstreamHost: "127.0.0.1", status: .running, exposedPorts: 1))

        // URLSession through the gateway: a GET, and a body.
        let got = try await fetch(gateway, host: host, path: "/hello?x=1")
        XCTAssertEqual(got.status, 200)
        XCTAssertEqual(try JSON.parse(got.body)["path"], .string("/hello?x=1"))
        let posted = try await fetch(gateway, host: host, path: "/upload", method: "POST", body: Data(count: 100_000))
        XCTAssertEqual(posted.status, 200)
        XCTAssertEqual(try JSON.parse(posted.body)["body_len"], .int(100_000))

        // Stopped: the same URL, listed as inactive; running again: served again.
        try await sandbox.markStopped()
        let inactive = try await sandbox.getExposedPorts(hostname: "localhost:\(gateway.port)")
        XCTAssertEqual(inactive.map(\.status), [.inactive])
        try await sandbox.markRunning()
        let again = try await fetch(gateway, host: host, path: "/")
        XCTAssertEqual(again.status, 200)

        // Unexposed; the counters saw it all.
        try await sandbox.unexposePort(service)
        let isExposed = await sandbox.isPortExposed(service)
        XCTAssertFalse(isExposed)
        let metrics = gateway.metrics()
        XCTAssertTrue(metrics.contains("portway_requests_total{status=\"200\"}"), metrics)

        await gateway.close()
        await gateway.close()  // harmless
        do {
            _ = try await fetch(gateway, host: host, path: "/")
            XCTFail("the gateway still answers after close()")
        } catch is URLError {}
    }

    /// A request rate set from Swift reaches the gateway: with `clientRequestRate: 1` and
    /// `clientRequestBurst: 1`, the second request is 429 `RATE_LIMITED` with `Retry-After`.
    func testAClientRequestRateSetFromSwiftReachesTheGateway() async throws {
        let service = try FixtureService.port()
        let config = GatewayConfig(clientRequestRate: 1, clientRequestBurst: 1)
        XCTAssertEqual(config.clientRequestRate, 1)
        let portway = try Portway(domains: ["localhost"], gateway: config)
        let gateway = try await portway.serve(listen: "127.0.0.1:0")
        let sandbox = try portway.sandbox(id: "swift-rate")
        try await sandbox.waitForPort(service, path: "/ready", timeout: 5)
        let exposed = try await sandbox.exposePort(service, hostname: "localhost")
        let host = previewHost(exposed.url)

        let first = try await fetch(gateway, host: host, path: "/")
        XCTAssertEqual(first.status, 200)
        let second = try await fetch(gateway, host: host, path: "/")
        XCTAssertEqual(second.status, 429)
        let retryAfter = second.response.allHeaderFields.first {
            ($0.key as? String)?.lowercased() == "retry-after"
        }?.value as? String
        XCTAssertEqual(retryAfter, "1")
        XCTAssertEqual(try JSON.parse(second.body)["code"]?.string, "RATE_LIMITED")
        let metrics = gateway.metrics()
        XCTAssertTrue(metrics.contains("portway_rate_limited_requests_total{limit=\"client\"} 1"), metrics)
        await gateway.close()
    }

    func testWebSocketToTheServiceDirectly() async throws {
        let service = try FixtureService.port()
        let sandbox = try Portway().sandbox(id: "swift-ws")
        let socket = try await sandbox.wsConnect(service, path: "/ws", headers: ["X-User": "ada"], subprotocols: ["chat.v2", "chat.v1"])
        XCTAssertEqual(socket.protocol, "chat.v2")
        XCTAssertFalse(socket.isClosed)

        try await socket.send(text: "hello")
        let got1 = try await socket.recv()
        XCTAssertEqual(got1, .text("hello"))
        try await socket.send(data: Data([0, 1, 2, 255]))
        let got2 = try await socket.recv()
        XCTAssertEqual(got2, .binary(Data([0, 1, 2, 255])))
        try await socket.send(.text("again"))
        let got3 = try await socket.recv()?.text
        XCTAssertEqual(got3, "again")
        try await socket.send(text: "request")
        let requestSeen = try await socket.recv()?.text
        let seen = try JSON.parse(Data(try XCTUnwrap(requestSeen).utf8))
        XCTAssertEqual(header(seen, "host"), "localhost:\(service)")
        XCTAssertEqual(header(seen, "x-user"), "ada")

        // The messages as an AsyncSequence, until the service closes.
        try await socket.send(text: "one")
        try await socket.send(text: "two")
        try await socket.send(text: "close:4001:service bye")
        var received: [WebSocketMessage] = []
        for try await message in socket {
            received.append(message)
        }
        XCTAssertEqual(received, [.text("one"), .text("two")])
        XCTAssertEqual(socket.closeCode, 4001)
        XCTAssertEqual(socket.closeReason, "service bye")
        XCTAssertTrue(socket.isClosed)
        let afterClose = try await socket.recv()
        XCTAssertNil(afterClose)
    }

    func testWebSocketThroughTheGateway() async throws {
        let service = try FixtureService.port()
        let portway = try Portway(domains: ["localhost"])
        let gateway = try await portway.serve(listen: "127.0.0.1:0")
        let exposed = try await portway.sandbox(id: "swift-ws-gw").exposePort(service, hostname: "localhost")
        let host = previewHost(exposed.url)

        // A client "sandbox" whose service is the gateway itself, reached with the preview host.
        let client = try portway.sandbox(id: "gateway-client", upstreamHost: "127.0.0.1")
        let socket = try await client.wsConnect(gateway.port, path: "/ws", headers: ["Host": host])
        try await socket.send(text: "through the gateway")
        let got4 = try await socket.recv()
        XCTAssertEqual(got4, .text("through the gateway"))
        try await socket.send(text: "request")
        let requestSeen = try await socket.recv()?.text
        let seen = try JSON.parse(Data(try XCTUnwrap(requestSeen).utf8))
        XCTAssertEqual(header(seen, "host"), "localhost:\(service)", "the gateway rewrites Host for WebSockets too")
        XCTAssertEqual(header(seen, "x-forwarded-host"), host)
        try await socket.close(code: 4000, reason: "done")
        XCTAssertEqual(socket.closeCode, 4000, "the service answered the close with its code")
        XCTAssertEqual(socket.closeReason, "done")

        // The gateway's own refusals apply to the handshake.
        let wrong = host.replacingOccurrences(of: "-swift-ws-gw-", with: "-nobody-")
        do {
            _ = try await client.wsConnect(gateway.port, path: "/ws", headers: ["Host": wrong])
            XCTFail("a WebSocket to an unknown sandbox was accepted")
        } catch let error as PortwayError {
            XCTAssertEqual(error.code, .wsConnectFailed)
            XCTAssertEqual(error.httpStatus, 404)
        }
        await gateway.shutdown(deadline: 1)
    }

    func testWaitForPort() async throws {
        let service = try FixtureService.port()
        let sandbox = try Portway().sandbox(id: "swift-wait")
        try await sandbox.waitForPort(service)
        try await sandbox.waitForPort(service, mode: .tcp, timeout: 2, interval: 0.05)
        try await sandbox.waitForPort(service, mode: .http, path: "/health?deep=1", statusRange: 200...299)
        try await sandbox.waitForPort(service, path: "/status/503", statusRange: 500...599)
        do {
            try await sandbox.waitForPort(service, path: "/", statusRange: 500...599, timeout: 0.3)
            XCTFail("a 200 was accepted as 5xx")
        } catch let error as PortwayError where error.code == .portWaitTimeout {}
    }

    func testFileStoreKeepsExposuresAcrossRestarts() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portway-swift-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("portway.db").path
        let first = try await Portway(domains: ["example.com"], store: store)
            .sandbox(id: "durable").exposePort(8080, hostname: "example.com", name: "api")
        XCTAssertTrue(first.url.hasPrefix("https://8080-durable-"), first.url)
        let restarted = try Portway(domains: ["example.com"], store: store)
        XCTAssertEqual(restarted.sandboxes().map(\.id), ["durable"])
        let listed = try await restarted.sandbox(id: "durable").getExposedPorts(hostname: "example.com")
        XCTAssertEqual(listed, [ExposedPortInfo(port: 8080, url: first.url, name: "api", status: .active)])
    }

    func testManyConcurrentCallsOnTheRuntime() async throws {
        let portway = try Portway()
        let urls = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<64 {
                group.addTask {
                    try await portway.sandbox(id: "box-\(i)").exposePort(8000 + i, hostname: "localhost").url
                }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        XCTAssertEqual(urls.count, 64)
        XCTAssertEqual(portway.sandboxes().count, 64)
    }
}

/// The value of header `name` in the fixture's echo JSON (its `headers` list of pairs).
func header(_ echo: JSON, _ name: String) -> String? {
    echo["headers"]?.array?.first { $0.array?.first?.string == name }?.array?.last?.string
}

/// `host:port` of a preview URL, as a client sends it in the Host header.
func previewHost(_ url: String) -> String {
    var rest = Substring(url)
    if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
    return String(rest.prefix { $0 != "/" })
}

struct Fetched: Sendable {
    let status: Int
    let body: Data
    let response: HTTPURLResponse
}

/// One request to the gateway's address with `host` as the Host header, on an ephemeral
/// session (the shared one caches on disk).
func fetch(
    _ gateway: GatewayHandle, host: String, path: String, method: String = "GET", body: Data? = nil,
    headers: [String: String] = [:]
) async throws -> Fetched {
    let url = try XCTUnwrap(URL(string: "http://127.0.0.1:\(gateway.port)\(path)"))
    var request = URLRequest(url: url, timeoutInterval: 10)
    request.httpMethod = method
    request.httpBody = body
    request.setValue(host, forHTTPHeaderField: "Host")
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    let session = URLSession(configuration: .ephemeral)
    defer { session.finishTasksAndInvalidate() }
    return try await withCheckedThrowingContinuation { continuation in
        session.dataTask(with: request) { data, response, error in
            if let error {
                continuation.resume(throwing: error)
            } else if let response = response as? HTTPURLResponse {
                continuation.resume(returning: Fetched(status: response.statusCode, body: data ?? Data(), response: response))
            } else {
                continuation.resume(throwing: URLError(.badServerResponse))
            }
        }.resume()
    }
}
