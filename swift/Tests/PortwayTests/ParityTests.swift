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
            "validateSandboxId", "validateToken", "buildPreviewUrl", "events",
        ],
        "Sandbox": [
            "id", "upstreamHost", "exposePort", "unexposePort", "getExposedPorts", "isPortExposed",
            "validatePortToken", "waitForPort", "wsConnect", "markRunning", "markStopped", "destroy",
            "activity", "portActivity", "setIdleAfter", "idleAfter",
        ],
        "EventStream": ["next", "close"],
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

    /// The argument labels of `Portway.init`, `waitForPort` and `wsConnect` are exactly
    /// parity.json's Swift names of PortwaySettings, WaitSettings and WsConnectSettings, in
    /// order (read from the source: the generated bindings for `init`, the Swift wrappers the
    /// docs teach for the other two), and a default the signature writes (other than `nil`,
    /// which leaves it to the core) is parity.json's.
    func testEveryOptionIsAnArgumentLabel() throws {
        let parity = try loadJSON("tests/api/parity.json")
        let declarations: [(type: String, file: String, after: String?, signature: String)] = [
            ("PortwaySettings", "Generated/Portway.swift", "open class Portway:", "public convenience init("),
            ("WaitSettings", "Sandbox+Swift.swift", nil, "public func waitForPort("),
            ("WsConnectSettings", "Sandbox+Swift.swift", nil, "public func wsConnect("),
        ]
        for d in declarations {
            let options = try XCTUnwrap(parity["options"]?[d.type]?.array, d.type)
            XCTAssertFalse(options.isEmpty, "parity.json lists no \(d.type)")
            // status_min and status_max are the one label statusRange.
            var listed: [String] = []
            for name in options.compactMap({ $0["swift"]?.string }) where !listed.contains(name) {
                listed.append(name)
            }
            let params = try parameters(of: d.signature, in: d.file, after: d.after)
                .filter { !$0.label.isEmpty && $0.label != "_" }
            XCTAssertEqual(params.map(\.label), listed, "\(d.type): the labels of \(d.signature)...) in \(d.file)")
            for p in params {
                guard let written = p.defaultValue, written != "nil" else { continue }
                let entry = options.first { $0["swift"]?.string == p.label }
                XCTAssertEqual(
                    swiftLiteral(written), entry?["default"],
                    "\(d.type): \(p.label) defaults to \(written) in \(d.file)")
            }
        }
    }

    /// Portway() with no settings: the rules it validates with are parity.json's defaults
    /// (Swift shows no other setting of a built Portway).
    func testADefaultPortwayHasTheListedDefaults() throws {
        let parity = try loadJSON("tests/api/parity.json")
        var defaults: [String: JSON] = [:]
        for o in try XCTUnwrap(parity["options"]?["PortwaySettings"]?.array) {
            defaults[try XCTUnwrap(o["rust"]?.string)] = o["default"]
        }
        func code(_ call: () throws -> Any) -> PortwayErrorCode? {
            do {
                _ = try call()
                return nil
            } catch let error as PortwayError {
                return error.code
            } catch {
                return nil
            }
        }
        let portway = try Portway()
        for port in try XCTUnwrap(defaults["reserved_ports"]?.array) {
            let port = try XCTUnwrap(port.int)
            XCTAssertEqual(code { try portway.validatePort(port) }, .invalidPort, "reserved port \(port)")
        }
        XCTAssertEqual(try portway.validatePort(8080), 8080)
        for id in try XCTUnwrap(defaults["reserved_sandbox_ids"]?.array) {
            let id = try XCTUnwrap(id.string)
            XCTAssertEqual(code { try portway.validateSandboxId(id) }, .invalidSandboxId, "reserved id \(id)")
        }
        for suffix in try XCTUnwrap(defaults["custom_domain_suffixes"]?.array) {
            let domain = "example." + (try XCTUnwrap(suffix.string))
            XCTAssertEqual(code { try Portway(domains: [domain]) }, .invalidConfig, domain)
        }
        if try XCTUnwrap(defaults["normalize_id"]?.bool) {
            XCTAssertEqual(try portway.validateSandboxId("My-Box"), "my-box")
        } else {
            XCTAssertEqual(code { try portway.validateSandboxId("My-Box") }, .invalidSandboxId)
        }
        let shortest = Int(try XCTUnwrap(defaults["min_token_length"]?.int))
        let token = String(repeating: "a", count: shortest)
        XCTAssertEqual(try portway.validateToken(token), token)
        XCTAssertEqual(code { try portway.validateToken(String(token.dropLast())) }, .invalidTokenFormat)
    }

    /// The parameters of the first declaration starting `signature` (which ends in its `(`)
    /// in swift/Sources/Portway/`file`, after the first `after`: each one's label and the
    /// default it writes.
    private func parameters(
        of signature: String, in file: String, after: String?
    ) throws -> [(label: String, defaultValue: String?)] {
        let url = repositoryRoot.appendingPathComponent("swift/Sources/Portway/\(file)")
        var text = Substring(try String(contentsOf: url, encoding: .utf8))
        if let after {
            let found = try XCTUnwrap(text.range(of: after), "\(file) has no \(after)")
            text = text[found.upperBound...]
        }
        let start = try XCTUnwrap(text.range(of: signature), "\(file) has no \(signature)")
        var list: [String] = []
        var current = ""
        var depth = 1
        scan: for ch in text[start.upperBound...] {
            switch ch {
            case "(", "[", "<": depth += 1
            case ")", "]", ">": depth -= 1
            default: break
            }
            if depth == 0 { break scan }
            if ch == "," && depth == 1 {
                list.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        list.append(current)
        return list.map { raw in
            let p = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            let label = String(p.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
            let written = p.range(of: " = ").map { String(p[$0.upperBound...]).trimmingCharacters(in: .whitespaces) }
            return (label, written)
        }
    }

    /// A default as a Swift signature writes it, as JSON (`nil` for one this test cannot read).
    private func swiftLiteral(_ text: String) -> JSON? {
        switch text {
        case "[]", "[:]": return .array([])
        case "true": return .bool(true)
        case "false": return .bool(false)
        default: break
        }
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") {
            return .string(String(text.dropFirst().dropLast()))
        }
        if let i = Int64(text) { return .int(i) }
        if let d = Double(text) { return .double(d) }
        return nil
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
        XCTAssertEqual(sandbox.activity().sandboxId, "parity")
        XCTAssertEqual(sandbox.portActivity().map(\.port), [servicePort])
        try sandbox.setIdleAfter(seconds: 60)
        XCTAssertEqual(sandbox.idleAfter(), 60)
        let events = portway.events()
        try await sandbox.destroy()
        let destroyed = await events.next()
        XCTAssertEqual(destroyed?.kind, "destroyed")
        events.close()
        let none = await events.next()
        XCTAssertNil(none)

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
