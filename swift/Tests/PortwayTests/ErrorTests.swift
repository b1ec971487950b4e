import Foundation
import Portway
import XCTest

/// Every error code a Swift user can meet, each provoked for real and matched by code.
/// (`SANDBOX_NOT_FOUND` is only given by the `portway` server's admin API.)
final class ErrorTests: XCTestCase {
    func testEveryCodeASwiftUserCanMeet() async throws {
        let service = try FixtureService.port()
        let portway = try Portway(domains: ["localhost"])
        let sandbox = try portway.sandbox(id: "errors")
        var met: Set<PortwayErrorCode> = []

        func expect(
            _ code: PortwayErrorCode, _ what: String, line: UInt = #line,
            _ body: () async throws -> Void
        ) async {
            do {
                try await body()
                XCTFail("\(what): no error, expected \(code)", line: line)
            } catch let error as PortwayError {
                XCTAssertEqual(error.code, code, "\(what): \(error.message)", line: line)
                XCTAssertFalse(error.message.isEmpty, line: line)
                XCTAssertEqual(error.localizedDescription, error.message, line: line)
                met.insert(error.code)
            } catch {
                XCTFail("\(what): \(error) is not a PortwayError", line: line)
            }
        }

        await expect(.invalidPort, "port 80") { _ = try validatePort(80) }
        await expect(.invalidPort, "port 70000 through exposePort") {
            _ = try await sandbox.exposePort(70000, hostname: "localhost")
        }
        await expect(.invalidSandboxId, "an id starting with '-'") { _ = try portway.sandbox(id: "-box") }
        await expect(.invalidHostname, "a URL as host name") {
            _ = try buildPreviewUrl(port: 8080, sandboxId: "box", token: "token123", hostname: "http://example.com")
        }
        await expect(.customDomainRequired, "workers.dev") {
            _ = try buildPreviewUrl(port: 8080, sandboxId: "box", token: "token123", hostname: "me.workers.dev")
        }
        await expect(.previewLabelTooLong, "a 63-character id") {
            _ = try await portway.sandbox(id: String(repeating: "a", count: 63)).exposePort(8080, hostname: "localhost")
        }
        await expect(.invalidTokenFormat, "a short token") { _ = try validateToken("tok") }
        _ = try await sandbox.exposePort(8080, hostname: "localhost", token: "shared_token")
        await expect(.tokenInUse, "a token of another port") {
            _ = try await sandbox.exposePort(8081, hostname: "localhost", token: "shared_token")
        }
        let closedPort = try unusedPort()
        await expect(.portWaitTimeout, "nothing listens") {
            try await sandbox.waitForPort(closedPort, mode: .tcp, timeout: 0.3, interval: 0.05)
        }
        await expect(.wsConnectFailed, "nothing listens") {
            _ = try await sandbox.wsConnect(closedPort, connectTimeout: 2)
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("portway-swift-\(UUID())")
        try Data("not a directory".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        await expect(.storeError, "a store under a plain file") {
            _ = try Portway(store: file.appendingPathComponent("portway.db").path)
        }
        await expect(.gatewayError, "an address that is not one") { _ = try await portway.serve(listen: "nowhere") }
        await expect(.domainNotConfigured, "a domain that is not the Portway's") {
            _ = try await sandbox.exposePort(8082, hostname: "example.com")
        }
        await expect(.invalidPortName, "an empty name") {
            _ = try await sandbox.exposePort(8083, hostname: "localhost", name: "")
        }
        await expect(.invalidUpstreamHost, "a URL as upstream host") {
            _ = try portway.sandbox(id: "box", upstreamHost: "http://10.0.0.1")
        }
        await expect(.upstreamForbidden, "the cloud metadata address as upstream") {
            _ = try portway.sandbox(id: "box", upstreamHost: "169.254.169.254")
        }
        await expect(.upstreamForbidden, "an upstream in upstreamDeny") {
            _ = try Portway(gateway: GatewayConfig(upstreamDeny: ["10.0.0.0/8"])).sandbox(id: "box", upstreamHost: "10.0.0.7")
        }
        let ownGateway = try await portway.serve(listen: "127.0.0.1:0")
        await expect(.upstreamForbidden, "the gateway's own port") {
            _ = try await sandbox.exposePort(ownGateway.port, hostname: "localhost")
        }
        await ownGateway.close()
        await expect(.invalidConfig, "a minimum token length of 17") { _ = try Portway(minTokenLength: 17) }
        await expect(.invalidConfig, "a negative idle timeout") {
            _ = try Portway(gateway: GatewayConfig(idleTimeout: -1))
        }
        await expect(.invalidArgument, "a status range beyond 599") {
            try await sandbox.waitForPort(service, statusRange: 200...600)
        }

        let socket = try await sandbox.wsConnect(service, path: "/ws", maxMessageSize: 8)
        await expect(.wsError, "a message over maxMessageSize") { try await socket.send(text: "longer than eight bytes") }
        await expect(.invalidArgument, "close code 999") { try await socket.close(code: 999) }
        try await socket.close()
        await expect(.wsClosed, "a send after close") { try await socket.send(text: "late") }

        let all = Set(PortwayErrorCode.allCases)
        XCTAssertEqual(all.subtracting(met), [.sandboxNotFound], "codes no test provoked")
    }

    func testRefusedHandshakeCarriesTheStatus() async throws {
        let sandbox = try Portway().sandbox(id: "refused")
        do {
            _ = try await sandbox.wsConnect(try FixtureService.port(), path: "/status/403")
            XCTFail("the refused handshake succeeded")
        } catch let error as PortwayError {
            XCTAssertEqual(error.code, .wsConnectFailed)
            XCTAssertEqual(error.httpStatus, 403)
            guard case .WsConnectFailed(let message, let status) = error else {
                return XCTFail("not the WsConnectFailed case: \(error)")
            }
            XCTAssertEqual(status, 403)
            XCTAssertTrue(message.contains("403"), message)
        }
    }

    func testErrorsMatchByCodeCaseAndString() throws {
        do {
            _ = try validatePort(3000)
            XCTFail("3000 is reserved")
        } catch let error as PortwayError where error.code == .invalidPort {
            // matched by code
        }
        do {
            _ = try validateSandboxId("www")
        } catch PortwayError.InvalidSandboxId(let message) {
            XCTAssertTrue(message.contains("reserved"), message)
        }
        do {
            _ = try validatePort(0)
        } catch let error as PortwayError {
            XCTAssertEqual(error.code.description, "INVALID_PORT")
            XCTAssertEqual("\(error.code)", "INVALID_PORT")
            XCTAssertEqual(
                error.message, "Invalid port number: 0. Must be 1024-65535, excluding 3000 (sandbox control plane).")
            XCTAssertEqual(error.description, error.message)
            XCTAssertNil(error.httpStatus)
        }
    }
}
