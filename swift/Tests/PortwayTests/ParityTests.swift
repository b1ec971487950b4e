import Foundation
import Portway
import XCTest

/// The public API listed once in tests/api/parity.json: this file names every Swift name of
/// the list (compilation is the check) and checks that the list names nothing else.
final class ParityTests: XCTestCase {
    /// The names `everyName` uses, by owner as in parity.json.
    static let covered: [String: Set<String>] = [
        "functions": [
            "buildPreviewUrl", "parsePreviewHost", "validatePort", "validateSandboxId", "validateToken",
            "generateToken",
        ],
        "Portway": [
            "sandbox", "serve", "resolve", "parsePreviewHost", "getSandbox", "sandboxes", "validatePort",
            "validateSandboxId", "validateToken", "buildPreviewUrl",
        ],
        "Sandbox": [
            "id", "upstreamHost", "exposePort", "unexposePort", "getExposedPorts", "isPortExposed",
            "validatePortToken", "waitForPort", "wsConnect", "markRunning", "markStopped", "destroy",
        ],
        "GatewayHandle": ["localAddr", "shutdown", "close", "metrics"],
        "WebSocket": ["send", "recv", "close", "protocol", "closeCode", "closeReason"],
    ]

    func testTheParityListIsCovered() throws {
        let parity = try loadJSON("tests/api/parity.json")
        var listed: [String: Set<String>] = [:]
        listed["functions"] = Set(try XCTUnwrap(parity["functions"]?.array).compactMap { $0["swift"]?.string })
        guard case .object(let types) = try XCTUnwrap(parity["types"]) else {
            return XCTFail("parity.json: types is not an object")
        }
        for (type, entries) in types {
            listed[type] = Set(try XCTUnwrap(entries.array).compactMap { $0["swift"]?.string })
        }
        XCTAssertEqual(listed, Self.covered, "parity.json and this test name different APIs")
    }

    /// Every gateway setting of the core's table is a field of `GatewayConfig`, in order, and
    /// a value given reaches the core (a negative duration is refused naming the setting).
    func testGatewayConfigHasEveryOption() throws {
        let parity = try loadJSON("tests/api/parity.json")
        let options = try XCTUnwrap(parity["options"]?["GatewayConfig"]?.array)
        XCTAssertFalse(options.isEmpty)
        let fields = Mirror(reflecting: GatewayConfig()).children.compactMap { $0.label }
        XCTAssertEqual(fields, options.compactMap { $0["swift"]?.string })
        XCTAssertNoThrow(try Portway(gateway: GatewayConfig(maxHeaders: 50, idleTimeout: 2.5)))
        do {
            _ = try Portway(gateway: GatewayConfig(connectTimeout: -1))
            XCTFail("a negative connect timeout was accepted")
        } catch let error as PortwayError {
            XCTAssertEqual(error.code, .invalidConfig)
            XCTAssertTrue(error.message.contains("connect_timeout"), error.message)
        }
    }

    func testEveryNameRunsEndToEnd() async throws {
        try await everyName(servicePort: try FixtureService.port())
    }

    /// Uses every name of parity.json once, in the order of the list.
    private func everyName(servicePort: UInt16) async throws {
        // functions
        let token = generateToken()
        XCTAssertEqual(token.count, 16)
        let url = try buildPreviewUrl(port: 8080, sandboxId: "box", token: token, hostname: "localhost")
        XCTAssertEqual(parsePreviewHost(previewHost(url))?.token, token)
        XCTAssertEqual(try validatePort(8080), 8080)
        XCTAssertEqual(try validateSandboxId("box"), "box")
        XCTAssertEqual(try validateToken("token_123"), "token_123")

        // Portway
        let portway = try Portway(domains: ["localhost"], store: ":memory:", reservedPorts: [3000, 9000])
        let sandbox = try portway.sandbox(id: "parity", upstreamHost: "127.0.0.1")
        let gateway = try await portway.serve(listen: "127.0.0.1:0")
        XCTAssertEqual(portway.resolve("example.com"), .notPreview)
        XCTAssertNil(portway.parsePreviewHost("8080-box-token123.example.com"))
        XCTAssertNil(portway.getSandbox("parity"))
        XCTAssertEqual(portway.sandboxes(), [])
        XCTAssertThrowsError(try portway.validatePort(9000))
        XCTAssertEqual(try portway.validateSandboxId("parity"), "parity")
        XCTAssertEqual(try portway.validateToken("token_123"), "token_123")
        XCTAssertEqual(
            try portway.buildPreviewUrl(port: 8080, sandboxId: "box", token: "token123", hostname: "localhost:1"),
            "http://8080-box-token123.localhost:1/")

        // Sandbox
        XCTAssertEqual(sandbox.id, "parity")
        XCTAssertEqual(sandbox.upstreamHost, "127.0.0.1")
        let exposed = try await sandbox.exposePort(servicePort, hostname: "localhost")
        try await sandbox.unexposePort(8081)
        let got1 = try await sandbox.getExposedPorts(hostname: "localhost").map(\.url)
        XCTAssertEqual(got1, [exposed.url])
        let isExposed = await sandbox.isPortExposed(servicePort)
        XCTAssertTrue(isExposed)
        let tokenIsValid = await sandbox.validatePortToken(servicePort, token: parsePreviewHost(previewHost(exposed.url))?.token ?? "")
        XCTAssertTrue(tokenIsValid)
        try await sandbox.waitForPort(servicePort, mode: .tcp)
        let socket = try await sandbox.wsConnect(servicePort, path: "/ws")
        try await sandbox.markRunning()
        try await sandbox.markStopped()
        try await sandbox.destroy()

        // GatewayHandle
        XCTAssertTrue(gateway.localAddr.hasPrefix("127.0.0.1:"))
        XCTAssertTrue(gateway.metrics().contains("portway_"))

        // WebSocket
        try await socket.send(text: "ping")
        let got2 = try await socket.recv()
        XCTAssertEqual(got2, .text("ping"))
        XCTAssertNil(socket.protocol)
        XCTAssertNil(socket.closeCode)
        XCTAssertNil(socket.closeReason)
        try await socket.close(code: 1000, reason: "bye")
        XCTAssertEqual(socket.closeCode, 1000)
        XCTAssertEqual(socket.closeReason, "bye")

        await gateway.shutdown(deadline: 1)
        await gateway.close()
    }
}
