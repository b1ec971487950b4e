import Foundation
import Portway
import XCTest

/// Runs every case of tests/vectors/gateway.json (the format is in tests/vectors/README.md,
/// section "Gateway") through the Swift package: a fresh Portway and its gateway per case, in
/// front of the fixture service (Support/Fixture.swift), each request written as raw
/// HTTP/1.1 bytes so that no client library normalises the Host or the headers.
final class GatewayVectorTests: XCTestCase {
    func testGatewayVectors() async throws {
        let doc = try loadJSON("tests/vectors/gateway.json")
        let cases = try XCTUnwrap(doc["cases"]?.array)
        XCTAssertFalse(cases.isEmpty, "gateway.json: no cases")
        let fixture = try FixtureService.port()
        var ran = 0
        for testCase in cases {
            let context = "gateway.json \(testCase["name"]?.string ?? "<unnamed>")"
            do {
                try await run(testCase, fixture: fixture, context)
            } catch {
                XCTFail("\(context): \(error)")
            }
            ran += 1
        }
        print("vectors: gateway.json: \(ran) run, 0 skipped (dynamic_only)")
    }

    private func run(_ testCase: JSON, fixture: UInt16, _ context: String) async throws {
        let config = testCase["config"] ?? .object([:])
        let domains = config["domains"]?.array?.compactMap(\.string)
        func strings(_ key: String) -> [String]? { config[key]?.array?.compactMap(\.string) }
        let portway = try Portway(
            domains: domains, store: ":memory:",
            reservedPorts: config["reserved_ports"]?.array?.compactMap(\.int),
            reservedSandboxIds: strings("reserved_sandbox_ids"),
            customDomainSuffixes: strings("custom_domain_suffixes"),
            normalizeId: config["normalize_id"]?.bool ?? false,
            minTokenLength: config["min_token_length"]?.int,
            gateway: try gatewayConfig(testCase["gateway"]?.object ?? [:]))
        let gateway = try await portway.serve(listen: "127.0.0.1:0")
        let vars = GatewayVars(fixture: fixture, closed: try unusedPort(), gateway: gateway.port)
        for sandbox in testCase["sandboxes"]?.array ?? [] {
            let handle = try portway.sandbox(id: try XCTUnwrap(sandbox["id"]?.string), upstreamHost: "127.0.0.1")
            for port in sandbox["ports"]?.array ?? [] {
                let which = try XCTUnwrap(port["port"]?.string)
                let number = try XCTUnwrap(which == "fixture" ? vars.fixture : which == "closed" ? vars.closed : nil)
                _ = try await handle.exposePort(
                    number, hostname: domains?.first ?? "localhost", token: try XCTUnwrap(port["token"]?.string))
            }
            switch sandbox["status"]?.string ?? "running" {
            case "running": break
            case "stopped": try await handle.markStopped()
            case "destroyed": try await handle.destroy()
            case let other: XCTFail("\(context): unknown status \(other)")
            }
        }
        let request = try XCTUnwrap(testCase["request"])
        let bytes = try requestBytes(request, vars)
        let gatewayPort = gateway.port
        let headRequest = request["method"]?.string == "HEAD"
        // The socket calls block: off the cooperative pool.
        let reply = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    with: Result(catching: { try rawExchange(port: gatewayPort, request: bytes, headRequest: headRequest) }))
            }
        }
        check(context, try XCTUnwrap(testCase["expect"]), reply, vars)
        await gateway.shutdown(deadline: 0.1)
    }

    /// The case's gateway options, by the core's names (durations in seconds, as in Swift).
    private func gatewayConfig(_ options: [String: JSON]) throws -> GatewayConfig {
        var config = GatewayConfig()
        for (name, value) in options {
            func count() throws -> UInt64 { UInt64(try XCTUnwrap(value.int, name)) }
            func seconds() throws -> Double { try XCTUnwrap(value.number, name) }
            func networks() throws -> [String] { try XCTUnwrap(value.array, name).map { try XCTUnwrap($0.string, name) } }
            switch name {
            case "rewrite_host": config.rewriteHost = try XCTUnwrap(value.bool, name)
            case "forwarded_proto": config.forwardedProto = try XCTUnwrap(value.string, name)
            case "referrer_policy": config.referrerPolicy = try XCTUnwrap(value.string, name)
            case "max_head_size": config.maxHeadSize = try count()
            case "max_headers": config.maxHeaders = try count()
            case "head_timeout": config.headTimeout = try seconds()
            case "idle_timeout": config.idleTimeout = try seconds()
            case "max_connections": config.maxConnections = try count()
            case "max_connections_per_sandbox": config.maxConnectionsPerSandbox = try count()
            case "connect_retry_window": config.connectRetryWindow = try seconds()
            case "connect_timeout": config.connectTimeout = try seconds()
            case "response_timeout": config.responseTimeout = try seconds()
            case "upstream_allow": config.upstreamAllow = try networks()
            case "upstream_deny": config.upstreamDeny = try networks()
            case "trusted_proxies": config.trustedProxies = try networks()
            case "proxy_protocol": config.proxyProtocol = try XCTUnwrap(value.bool, name)
            default: throw FixtureError(description: "gateway option \(name) has no mapping in GatewayVectorTests")
            }
        }
        return config
    }

    private func requestBytes(_ request: JSON, _ vars: GatewayVars) throws -> [UInt8] {
        let method = try XCTUnwrap(request["method"]?.string)
        var head = "\(method) \(vars.subst(try XCTUnwrap(request["target"]?.string))) HTTP/1.1\r\n"
        if let host = request["host"]?.string { head += "host: \(vars.subst(host))\r\n" }
        var framed = false
        for pair in request["headers"]?.array ?? [] {
            let name = try XCTUnwrap(pair.array?.first?.string)
            let value = try XCTUnwrap(pair.array?.last?.string)
            framed = framed || ["content-length", "transfer-encoding"].contains(name.lowercased())
            head += "\(name): \(vars.subst(value))\r\n"
        }
        let body = Array((request["body"]?.string ?? "").utf8)
        if request["body"] != nil && !framed { head += "content-length: \(body.count)\r\n" }
        return Array((head + "\r\n").utf8) + body
    }

    private func checkHeaders(
        _ context: String, _ values: (String) -> [String], _ want: JSON?, _ absent: JSON?, _ vars: GatewayVars
    ) {
        for (name, value) in want?.object ?? [:] {
            let expected = (value.array ?? [value]).compactMap(\.string).map(vars.subst)
            XCTAssertEqual(values(name), expected, "\(context): header \(name)")
        }
        for name in absent?.array?.compactMap(\.string) ?? [] {
            XCTAssertEqual(values(name), [], "\(context): \(name) is present")
        }
    }

    private func check(_ context: String, _ expect: JSON, _ reply: RawReply, _ vars: GatewayVars) {
        let text = String(decoding: reply.body, as: UTF8.self)
        XCTAssertEqual(reply.status, expect["status"]?.int.map(Int.init), "\(context): status (\(reply.headers) \(text))")
        checkHeaders(context, reply.values, expect["headers"], expect["headers_absent"], vars)
        if let code = expect["code"]?.string {
            let body = try? JSON.parse(Data(reply.body))
            XCTAssertEqual(body?["code"]?.string, code, "\(context): code in \(text)")
            if let message = expect["message"]?.string {
                XCTAssertEqual(body?["error"]?.string, message, "\(context): message in \(text)")
            }
        }
        if let body = expect["body"]?.string { XCTAssertEqual(text, vars.subst(body), "\(context): body") }
        for part in expect["body_contains"]?.array?.compactMap(\.string) ?? [] {
            XCTAssertTrue(text.contains(vars.subst(part)), "\(context): body lacks \(part): \(text)")
        }
        if let length = expect["body_len"]?.int { XCTAssertEqual(Int64(reply.body.count), length, "\(context): body length") }
        guard let want = expect["sandbox"] else { return }
        guard let saw = try? JSON.parse(Data(reply.body)) else {
            return XCTFail("\(context): not the fixture's echo: \(text)")
        }
        for key in ["method", "path", "body"] {
            if let value = want[key]?.string {
                XCTAssertEqual(saw[key]?.string, vars.subst(value), "\(context): the sandbox's \(key)")
            }
        }
        let seen: [(String, String)] = (saw["headers"]?.array ?? []).map {
            ($0.array?.first?.string ?? "", $0.array?.last?.string ?? "")
        }
        let values = { (name: String) in seen.filter { $0.0 == name.lowercased() }.map(\.1) }
        let sandboxContext = "\(context): the sandbox's headers \(seen)"
        checkHeaders(sandboxContext, values, want["headers"], want["headers_absent"], vars)
        if let exact = want["header_list"]?.array {
            // A null value: the header is there, with any value (a random hop marker).
            let expected = exact.enumerated().map { i, pair -> String in
                let name = pair.array?.first?.string ?? ""
                if let value = pair.array?.last?.string { return "\(name): \(vars.subst(value))" }
                return i < seen.count ? "\(name): \(seen[i].1)" : "\(name): (any value)"
            }
            XCTAssertEqual(seen.map { "\($0.0): \($0.1)" }, expected, "\(sandboxContext): the sandbox's header list")
        }
    }
}

/// The variables of a gateway case: `{fixture}`, `{closed}`, `{gateway}`.
struct GatewayVars {
    let fixture: UInt16
    let closed: UInt16
    let gateway: UInt16

    func subst(_ s: String) -> String {
        s.replacingOccurrences(of: "{fixture}", with: "\(fixture)")
            .replacingOccurrences(of: "{closed}", with: "\(closed)")
            .replacingOccurrences(of: "{gateway}", with: "\(gateway)")
    }
}
