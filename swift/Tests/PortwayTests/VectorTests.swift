import Foundation
import Portway
import XCTest

/// Runs every conformance case of tests/vectors/*.json, read from the repository at run time,
/// with the runner semantics of tests/vectors/README.md. `dynamic_only` cases (inputs a typed
/// API cannot express) are skipped and counted, as the README says for Swift.
final class VectorTests: XCTestCase {
    func testPorts() async throws {
        try await run("ports.json") { input, portway in
            guard let port = input["port"]?.int else { throw NotExpressible() }
            let valid = try portway.map { try $0.validatePort(port) } ?? validatePort(port)
            return .int(Int64(valid))
        }
    }

    func testSandboxIds() async throws {
        try await run("sandbox_ids.json") { input, portway in
            let id = try XCTUnwrap(input["id"]?.string)
            return .string(try portway.map { try $0.validateSandboxId(id) } ?? validateSandboxId(id))
        }
    }

    func testTokens() async throws {
        try await run("tokens.json") { input, portway in
            let token = try XCTUnwrap(input["token"]?.string)
            return .string(try portway.map { try $0.validateToken(token) } ?? validateToken(token))
        }
    }

    func testPreviewUrls() async throws {
        try await run("preview_urls.json") { input, portway in
            guard let port = input["port"]?.int else { throw NotExpressible() }
            let id = try XCTUnwrap(input["sandbox_id"]?.string)
            let token = try XCTUnwrap(input["token"]?.string)
            let hostname = try XCTUnwrap(input["hostname"]?.string)
            let url =
                try portway.map {
                    try $0.buildPreviewUrl(port: port, sandboxId: id, token: token, hostname: hostname)
                } ?? buildPreviewUrl(port: port, sandboxId: id, token: token, hostname: hostname)
            return .string(url)
        }
    }

    func testPreviewHosts() async throws {
        try await run("preview_hosts.json") { input, portway in
            let host = try XCTUnwrap(input["host"]?.string)
            let route = portway.map { $0.parsePreviewHost(host) } ?? parsePreviewHost(host)
            guard let route else { return .null }
            return .object([
                "port": .int(Int64(route.port)), "sandbox_id": .string(route.sandboxId),
                "token": .string(route.token),
            ])
        }
    }

    func testFlows() async throws {
        let doc = try loadJSON("tests/vectors/flows.json")
        var (ran, skipped) = (0, 0)
        for testCase in try XCTUnwrap(doc["cases"]?.array) {
            let name = testCase["name"]?.string ?? "<unnamed>"
            if testCase["dynamic_only"]?.bool == true {
                skipped += 1
                continue
            }
            let portway = try makePortway(testCase["config"] ?? .object([:]))
            var vars = Vars()
            for (i, step) in try XCTUnwrap(testCase["steps"]?.array).enumerated() {
                let context = "flows.json \(name) step \(i) (\(step["op"] ?? .null))"
                let result: Result<JSON, any Error>
                do {
                    result = .success(try await runStep(portway, step, vars))
                } catch {
                    result = .failure(error)
                }
                check(context, try XCTUnwrap(step["expect"]), result, &vars)
            }
            ran += 1
        }
        report("flows.json", ran: ran, skipped: skipped)
    }

    func testErrorCodesAreExactlyTheListedOnes() throws {
        let doc = try loadJSON("tests/vectors/errors.json")
        let listed = try XCTUnwrap(doc["codes"]?.array).compactMap { $0["code"]?.string }
        XCTAssertFalse(listed.isEmpty)
        XCTAssertEqual(PortwayErrorCode.allCases.map(\.description), listed)
    }

    // MARK: Runner

    /// Runs the cases of one file: `call` gets the input and, when the case has a `config`,
    /// the `Portway` it describes (else the free function is under test).
    private func run(
        _ file: String, _ call: (JSON, Portway?) async throws -> JSON
    ) async throws {
        let doc = try loadJSON("tests/vectors/\(file)")
        let cases = try XCTUnwrap(doc["cases"]?.array)
        XCTAssertFalse(cases.isEmpty, "\(file): no cases")
        var (ran, skipped) = (0, 0)
        for testCase in cases {
            let context = "\(file) \(testCase["name"]?.string ?? "<unnamed>")"
            let input = try XCTUnwrap(testCase["input"], context)
            let result: Result<JSON, any Error>
            do {
                let portway = try testCase["config"].map(makePortway)
                result = .success(try await call(input, portway))
            } catch is NotExpressible {
                if testCase["dynamic_only"]?.bool == true {
                    skipped += 1
                } else {
                    XCTFail("\(context): the input is not expressible in Swift; mark it dynamic_only")
                }
                continue
            } catch {
                result = .failure(error)
            }
            if testCase["dynamic_only"]?.bool == true {
                XCTFail("\(context): dynamic_only, yet Swift can express it")
            }
            var vars = Vars()
            check(context, try XCTUnwrap(testCase["expect"], context), result, &vars)
            ran += 1
        }
        report(file, ran: ran, skipped: skipped)
    }

    private func report(_ file: String, ran: Int, skipped: Int) {
        print("vectors: \(file): \(ran) run, \(skipped) skipped (dynamic_only)")
    }

    private func makePortway(_ config: JSON) throws -> Portway {
        func strings(_ key: String) -> [String]? { config[key]?.array?.compactMap(\.string) }
        return try Portway(
            domains: strings("domains"),
            store: ":memory:",
            reservedPorts: config["reserved_ports"]?.array?.compactMap(\.int),
            reservedSandboxIds: strings("reserved_sandbox_ids"),
            customDomainSuffixes: strings("custom_domain_suffixes"),
            normalizeId: config["normalize_id"]?.bool ?? false,
            minTokenLength: config["min_token_length"]?.int
        )
    }

    private func runStep(_ portway: Portway, _ step: JSON, _ vars: Vars) async throws -> JSON {
        let op = try XCTUnwrap(step["op"]?.string)
        func text(_ key: String) throws -> String? { try step[key]?.string.map(vars.subst) }
        if op == "resolve" {
            return resolutionJSON(portway.resolve(try XCTUnwrap(try text("host"))))
        }
        let sandbox = try portway.sandbox(
            id: try XCTUnwrap(step["sandbox"]?.string),
            upstreamHost: step["upstream_host"]?.string ?? "127.0.0.1")
        func port() throws -> Int64 { try XCTUnwrap(step["port"]?.int, "step port") }
        switch op {
        case "sandbox":
            return .string(sandbox.id)
        case "expose":
            let exposed = try await sandbox.exposePort(
                try port(), hostname: try XCTUnwrap(try text("hostname")), name: try text("name"),
                token: try text("token"))
            return .object([
                "port": .int(Int64(exposed.port)), "url": .string(exposed.url),
                "name": exposed.name.map(JSON.string) ?? .null,
            ])
        case "unexpose":
            try await sandbox.unexposePort(try port())
            return .null
        case "list":
            let ports = try await sandbox.getExposedPorts(hostname: try XCTUnwrap(try text("hostname")))
            return .array(
                ports.map {
                    .object([
                        "port": .int(Int64($0.port)), "url": .string($0.url),
                        "name": $0.name.map(JSON.string) ?? .null,
                        "status": .string($0.status == .active ? "active" : "inactive"),
                    ])
                })
        case "is_exposed":
            return .bool(await sandbox.isPortExposed(try port()))
        case "validate_token":
            return .bool(await sandbox.validatePortToken(try port(), token: try XCTUnwrap(try text("token"))))
        case "mark_running":
            try await sandbox.markRunning()
            return .null
        case "mark_stopped":
            try await sandbox.markStopped()
            return .null
        case "destroy":
            try await sandbox.destroy()
            return .null
        default:
            throw UnknownOp(op: op)
        }
    }

    private func resolutionJSON(_ r: Resolution) -> JSON {
        switch r {
        case .notPreview: .object(["kind": .string("not_preview")])
        case .denied: .object(["kind": .string("denied")])
        case .stale(let id, let port):
            .object(["kind": .string("stale"), "sandbox_id": .string(id), "port": .int(Int64(port))])
        case .upstream(let id, let port, let host):
            .object([
                "kind": .string("upstream"), "sandbox_id": .string(id), "port": .int(Int64(port)),
                "upstream_host": .string(host),
            ])
        }
    }

    /// Compares a result with a case's `expect`.
    private func check(
        _ context: String, _ expect: JSON, _ result: Result<JSON, any Error>, _ vars: inout Vars
    ) {
        switch (expect["ok"], expect["error"]?.string, result) {
        case (let want?, nil, .success(let got)):
            if let why = vars.match(want, got) {
                XCTFail("\(context): expected \(want), got \(got): \(why)")
            }
        case (nil, let code?, .failure(let error)):
            guard let error = error as? PortwayError else {
                XCTFail("\(context): expected \(code), got \(error)")
                return
            }
            XCTAssertEqual(error.code.description, code, "\(context): wrong code (\(error.message))")
            if let message = expect["message"]?.string {
                XCTAssertEqual(error.message, try? vars.subst(message), "\(context): message")
            }
            for part in expect["message_contains"]?.array?.compactMap(\.string) ?? [] {
                XCTAssertTrue(
                    error.message.contains(part), "\(context): message \(error.message) lacks \(part)")
            }
        case (let want?, nil, .failure(let error)):
            XCTFail("\(context): expected \(want), got error \(error)")
        case (nil, let code?, .success(let got)):
            XCTFail("\(context): expected error \(code), got \(got)")
        default:
            XCTFail("\(context): expect must have exactly one of ok and error: \(expect)")
        }
    }
}

/// The input cannot be given to the typed Swift API (a port that is not an integer).
private struct NotExpressible: Error {}

private struct UnknownOp: Error {
    let op: String
}

/// The variables of a flow: `{t1}` binds to a generated token the first time it is expected.
struct Vars {
    private var bound: [String: String] = [:]

    struct Unbound: Error, CustomStringConvertible {
        let description: String
    }

    func subst(_ s: String) throws -> String {
        var out = ""
        var rest = Substring(s)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else {
                throw Unbound(description: "unclosed variable in \(s)")
            }
            out += rest[..<open]
            let name = String(rest[rest.index(after: open)..<close])
            guard let value = bound[name] else { throw Unbound(description: "unbound {\(name)} in \(s)") }
            out += value
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// `nil` when `got` matches `template`, else why not. Binds new variables on success.
    mutating func matchString(_ template: String, _ got: String) -> String? {
        var t = Substring(template)
        var g = Substring(got)
        var newlyBound: [String] = []
        func fail(_ why: String) -> String {
            for name in newlyBound { bound[name] = nil }
            return why
        }
        while let open = t.firstIndex(of: "{") {
            guard let close = t[open...].firstIndex(of: "}") else { return fail("unclosed variable") }
            let prefix = t[..<open]
            guard g.hasPrefix(prefix) else { return fail("\(got) does not match \(template)") }
            g = g.dropFirst(prefix.count)
            let name = String(t[t.index(after: open)..<close])
            let value: String
            if let known = bound[name] {
                value = known
            } else {
                let candidate = String(g.prefix(16))
                guard candidate.count == 16,
                    candidate.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) })
                else { return fail("\(candidate) is not a generated token") }
                bound[name] = candidate
                newlyBound.append(name)
                value = candidate
            }
            guard g.hasPrefix(value) else { return fail("\(got) does not match \(template) with {\(name)}=\(value)") }
            g = g.dropFirst(value.count)
            t = t[t.index(after: close)...]
        }
        return t == g ? nil : fail("\(got) does not match \(template)")
    }

    mutating func match(_ want: JSON, _ got: JSON) -> String? {
        switch (want, got) {
        case (.string(let w), .string(let g)):
            return matchString(w, g)
        case (.array(let w), .array(let g)) where w.count == g.count:
            for (w, g) in zip(w, g) {
                if let why = match(w, g) { return why }
            }
            return nil
        case (.object(let w), .object(let g)) where w.count == g.count:
            for key in w.keys.sorted() {
                guard let gv = g[key] else { return "missing field \(key)" }
                if let why = match(w[key]!, gv) { return "\(key): \(why)" }
            }
            return nil
        default:
            return want == got ? nil : "values differ"
        }
    }
}
