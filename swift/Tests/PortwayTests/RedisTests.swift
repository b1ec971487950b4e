import Foundation
import Portway
import XCTest

/// The Redis store from Swift, on the redis-server swift/test.sh starts on the host and names
/// in `$PORTWAY_REDIS_URL` (the Swift root cannot run the host's redis-server, but shares its
/// network). Each test uses a key prefix of its own (`?prefix=swift-<random>:`), so tests never
/// see each other's sandboxes: two Portways on one prefix share one registry (an exposure made
/// through one is seen and routed by the other's gateway, an unexpose too), two prefixes do
/// not, and a Redis nothing listens on is `storeError` at construction.
final class RedisTests: XCTestCase {
    /// `$PORTWAY_REDIS_URL` with a prefix of this test's own.
    private func redisURL(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let env = ProcessInfo.processInfo.environment["PORTWAY_REDIS_URL"] ?? ""
        guard !env.isEmpty else {
            let why =
                "PORTWAY_REDIS_URL is not set: run swift/test.sh, which starts a redis-server for these tests "
                + "(scripts/redis.sh installs one)"
            XCTFail(why, file: file, line: line)
            throw FixtureError(description: why)
        }
        let prefix = "swift-\(UUID().uuidString.lowercased()):"
        return env + (env.contains("?") ? "&" : "?") + "prefix=\(prefix)"
    }

    /// Whether `condition` holds within `seconds`, polled every 5 ms.
    private func within(_ seconds: Double = 5, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        return condition()
    }

    func testAnExposureThroughOneIsRoutedByTheOther() async throws {
        let url = try redisURL()
        let service = try FixtureService.port()
        let writer = try Portway(domains: ["localhost"], store: url)
        let reader = try Portway(domains: ["localhost"], store: url)
        let gateway = try await reader.serve(listen: "127.0.0.1:0")
        let sandbox = try writer.sandbox(id: "swift-shared")

        let exposed = try await sandbox.exposePort(service, hostname: "localhost:\(gateway.port)", name: "web")
        let host = previewHost(exposed.url)
        let routed = Resolution.upstream(sandboxId: "swift-shared", port: service, upstreamHost: "127.0.0.1")
        let seen = try await within { reader.resolve(host) == routed }
        XCTAssertTrue(seen, "the other Portway never routed \(host): \(reader.resolve(host))")
        XCTAssertEqual(
            reader.getSandbox("swift-shared"),
            SandboxInfo(id: "swift-shared", upstreamHost: "127.0.0.1", status: .running, exposedPorts: 1))
        let listed = try await reader.sandbox(id: "swift-shared").getExposedPorts(hostname: "localhost:\(gateway.port)")
        XCTAssertEqual(listed, [ExposedPortInfo(port: service, url: exposed.url, name: "web", status: .active)])
        let got = try await fetch(gateway, host: host, path: "/through-redis")
        XCTAssertEqual(got.status, 200)
        XCTAssertEqual(try JSON.parse(got.body)["path"], .string("/through-redis"))

        // Unexposed through one: gone from the other, whose gateway then answers 404.
        try await sandbox.unexposePort(service)
        let gone = try await within { reader.resolve(host) == .denied }
        XCTAssertTrue(gone, "still routed: \(reader.resolve(host))")
        XCTAssertEqual(reader.getSandbox("swift-shared")?.exposedPorts, 0)
        let refused = try await fetch(gateway, host: host, path: "/")
        XCTAssertEqual(refused.status, 404)

        // Written the other way round: seen by the first.
        let back = try await reader.sandbox(id: "swift-back").exposePort(8080, hostname: "localhost")
        let seenBack = try await within { writer.resolve(previewHost(back.url)) != .denied }
        XCTAssertTrue(seenBack, "the first Portway never saw the second's exposure")
        await gateway.close()
    }

    func testPrefixesKeepPortwaysApart() async throws {
        let mine = try redisURL()
        let one = try Portway(store: mine)
        let twin = try Portway(store: mine)
        let other = try Portway(store: try redisURL())
        let exposed = try await one.sandbox(id: "swift-apart").exposePort(8080, hostname: "localhost")
        let host = previewHost(exposed.url)
        // Seen under its own prefix (so the change went out)...
        let seen = try await within { twin.resolve(host) != .denied }
        XCTAssertTrue(seen, "a Portway on the same prefix never saw it")
        // ...and not under another.
        XCTAssertEqual(other.resolve(host), .denied)
        XCTAssertNil(other.getSandbox("swift-apart"))
        XCTAssertEqual(other.sandboxes(), [])
    }

    func testAnUnreachableRedisIsAStoreError() throws {
        do {
            _ = try Portway(store: "redis://127.0.0.1:1/0")
            XCTFail("a Portway on a Redis nothing listens on was built")
        } catch let error as PortwayError {
            XCTAssertEqual(error.code, .storeError, error.message)
            XCTAssertTrue(error.message.contains("127.0.0.1:1"), error.message)
            XCTAssertTrue(error.message.contains("unreachable"), error.message)
        }
    }
}
