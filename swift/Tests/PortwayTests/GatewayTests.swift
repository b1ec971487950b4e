import Foundation
import Portway
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A real gateway in front of a real service (the echo service of Support/EchoServer.swift):
/// HTTP through the gateway with URLSession, WebSockets with `wsConnect`, directly and through
/// the gateway, the lifecycle's effect on the URLs, and a file store that survives a restart.
final class GatewayTests: XCTestCase {
    func testHttpThroughTheGateway() async throws {
        let echo = try EchoServer()
        defer { echo.stop() }
        let portway = try Portway(domains: ["localhost"])
        let gateway = try await portway.serve(listen: "127.0.0.1:0")
        XCTAssertEqual(gateway.localAddr, "127.0.0.1:\(gateway.port)")
        let sandbox = try portway.sandbox(id: "swift-http")
        XCTAssertEqual(sandbox.id, "swift-http")
        XCTAssertEqual(sandbox.upstreamHost, "127.0.0.1")
        try await sandbox.waitForPort(echo.port, path: "/ready", timeout: 5)

        let exposed = try await sandbox.exposePort(echo.port, hostname: "localhost:\(gateway.port)", name: "web")
        XCTAssertEqual(exposed.port, echo.port)
        XCTAssertEqual(exposed.name, "web")
        XCTAssertTrue(exposed.url.hasPrefix("http://\(echo.port)-swift-http-"), exposed.url)
        XCTAssertTrue(exposed.url.hasSuffix(".localhost:\(gateway.port)/"), exposed.url)
        let host = previewHost(exposed.url)
        let route = try XCTUnwrap(portway.parsePreviewHost(host))
        XCTAssertEqual(route.sandboxId, "swift-http")
        XCTAssertEqual(
            portway.resolve(host),
            .upstream(sandboxId: "swift-http", port: echo.port, upstreamHost: "127.0.0.1"))
        let listed = try await sandbox.getExposedPorts(hostname: "localhost:\(gateway.port)")
        XCTAssertEqual(listed, [ExposedPortInfo(port: echo.port, url: exposed.url, name: "web", status: .active)])
        XCTAssertEqual(
            portway.getSandbox("swift-http"),
            SandboxInfo(id: "swift-http", upstreamHost: "127.0.0.1", status: .running, exposedPorts: 1))

        // Forwarded: path and query unchanged, Host rewritten, X-Forwarded-* added.
        let got = try await fetch(gateway, host: host, path: "/hello?x=1")
        XCTAssertEqual(got.status, 200)
        let echoed = try JSON.parse(got.body)
        XCTAssertEqual(echoed["method"], .string("GET"))
        XCTAssertEqual(echoed["path"], .string("/hello?x=1"))
        XCTAssertEqual(echoed["headers"]?["host"], .string("localhost:\(echo.port)"))
        XCTAssertEqual(echoed["headers"]?["x-forwarded-host"], .string(host))
        XCTAssertEqual(echoed["headers"]?["x-forwarded-proto"], .string("http"))

        // A body goes through.
        let posted = try await fetch(gateway, host: host, path: "/upload", method: "POST", body: Data(count: 100_000))
        XCTAssertEqual(posted.status, 200)
        XCTAssertEqual(try JSON.parse(posted.body)["body_len"], .int(100_000))

        // Every Set-Cookie passes through.
        let cookies = try await fetch(gateway, host: host, path: "/cookies")
        let setCookie = cookies.response.value(forHTTPHeaderField: "Set-Cookie") ?? ""
        XCTAssertTrue(setCookie.contains("a=1") && setCookie.contains("b=2"), setCookie)

        // A wrong token and an unknown host learn nothing.
        let wrongToken = host.replacingOccurrences(of: route.token, with: "wrongtoken123")
        let denied = try await fetch(gateway, host: wrongToken, path: "/")
        XCTAssertEqual(denied.status, 404)
        XCTAssertEqual(try JSON.parse(denied.body)["code"], .string("INVALID_TOKEN"))
        let notPreview = try await fetch(gateway, host: "example.com", path: "/")
        XCTAssertEqual(notPreview.status, 404)
        XCTAssertEqual(try JSON.parse(notPreview.body)["code"], .string("NOT_FOUND"))

        // Stopped: 410 with the same URL; running again: served again.
        try await sandbox.markStopped()
        let stale = try await fetch(gateway, host: host, path: "/")
        XCTAssertEqual(stale.status, 410)
        XCTAssertEqual(try JSON.parse(stale.body)["code"], .string("STALE_PREVIEW_URL"))
        let inactive = try await sandbox.getExposedPorts(hostname: "localhost:\(gateway.port)")
        XCTAssertEqual(inactive.map(\.status), [.inactive])
        try await sandbox.markRunning()
        let again = try await fetch(gateway, host: host, path: "/")
        XCTAssertEqual(again.status, 200)

        // Unexposed: 404; the counters saw it all.
        try await sandbox.unexposePort(echo.port)
        let isExposed = await sandbox.isPortExposed(echo.port)
        XCTAssertFalse(isExposed)
        let gone = try await fetch(gateway, host: host, path: "/")
        XCTAssertEqual(gone.status, 404)
        let metrics = gateway.metrics()
        XCTAssertTrue(metrics.contains("portway_requests_total{status=\"200\"}"), metrics)
        XCTAssertTrue(metrics.contains("portway_requests_total{status=\"410\"}"), metrics)

        await gateway.close()
        await gateway.close()  // harmless
        do {
            _ = try await fetch(gateway, host: host, path: "/")
            XCTFail("the gateway still answers after close()")
        } catch is URLError {}
    }

    func testGatewayConfigReachesTheGateway() async throws {
        let echo = try EchoServer()
        defer { echo.stop() }
        let config = GatewayConfig(rewriteHost: false, forwardedProto: "https", connectTimeout: 2)
        let portway = try Portway(domains: ["localhost"], gateway: config)
        let gateway = try await portway.serve(listen: "127.0.0.1:0")
        let exposed = try await portway.sandbox(id: "swift-config").exposePort(echo.port, hostname: "localhost")
        let host = previewHost(exposed.url)
        let got = try await fetch(gateway, host: host, path: "/")
        let echoed = try JSON.parse(got.body)
        XCTAssertEqual(echoed["headers"]?["host"], .string(host), "rewriteHost: false keeps the preview host")
        XCTAssertEqual(echoed["headers"]?["x-forwarded-proto"], .string("https"))
        await gateway.close()
    }

    func testWebSocketToTheServiceDirectly() async throws {
        let echo = try EchoServer()
        defer { echo.stop() }
        let sandbox = try Portway().sandbox(id: "swift-ws")
        let socket = try await sandbox.wsConnect(echo.port, path: "/ws", headers: ["X-User": "ada"], subprotocols: ["chat.v2", "chat.v1"])
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
        try await socket.send(text: "headers")
        let headersSeen = try await socket.recv()?.text
        let seen = try JSON.parse(Data(try XCTUnwrap(headersSeen).utf8))
        XCTAssertEqual(seen["host"], .string("localhost:\(echo.port)"))
        XCTAssertEqual(seen["x-user"], .string("ada"))

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
        let echo = try EchoServer()
        defer { echo.stop() }
        let portway = try Portway(domains: ["localhost"])
        let gateway = try await portway.serve(listen: "127.0.0.1:0")
        let exposed = try await portway.sandbox(id: "swift-ws-gw").exposePort(echo.port, hostname: "localhost")
        let host = previewHost(exposed.url)

        // A client "sandbox" whose service is the gateway itself, reached with the preview host.
        let client = try portway.sandbox(id: "gateway-client", upstreamHost: "127.0.0.1")
        let socket = try await client.wsConnect(gateway.port, path: "/ws", headers: ["Host": host])
        try await socket.send(text: "through the gateway")
        let got4 = try await socket.recv()
        XCTAssertEqual(got4, .text("through the gateway"))
        try await socket.send(text: "headers")
        let headersSeen = try await socket.recv()?.text
        let seen = try JSON.parse(Data(try XCTUnwrap(headersSeen).utf8))
        XCTAssertEqual(seen["host"], .string("localhost:\(echo.port)"), "the gateway rewrites Host for WebSockets too")
        XCTAssertEqual(seen["x-forwarded-host"], .string(host))
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
        let echo = try EchoServer()
        defer { echo.stop() }
        let sandbox = try Portway().sandbox(id: "swift-wait")
        try await sandbox.waitForPort(echo.port)
        try await sandbox.waitForPort(echo.port, mode: .tcp, timeout: 2, interval: 0.05)
        try await sandbox.waitForPort(echo.port, mode: .http, path: "/health?deep=1", statusRange: 200...299)
        do {
            try await sandbox.waitForPort(echo.port, path: "/", statusRange: 500...599, timeout: 0.3)
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
    _ gateway: GatewayHandle, host: String, path: String, method: String = "GET", body: Data? = nil
) async throws -> Fetched {
    let url = try XCTUnwrap(URL(string: "http://127.0.0.1:\(gateway.port)\(path)"))
    var request = URLRequest(url: url, timeoutInterval: 10)
    request.httpMethod = method
    request.httpBody = body
    request.setValue(host, forHTTPHeaderField: "Host")
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
