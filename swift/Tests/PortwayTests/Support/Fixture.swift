import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The fixture service of the gateway vectors (tests/fixture, the `portway-fixture` binary):
/// the "sandbox service" of every test here, an HTTP echo with scenario paths and a WebSocket
/// echo (tests/vectors/README.md, section "Gateway", says what it answers). One process for
/// the whole run, started on first use; it exits when this process does (it watches its
/// stdin, whose write end this process holds).
///
/// The binary is `$PORTWAY_FIXTURE` (swift/test.sh builds it and sets it), else
/// target/debug/portway-fixture in the repository.
final class FixtureService: @unchecked Sendable {
    let port: UInt16
    private let process: Process
    private let input: Pipe

    private static let shared = Result { try FixtureService() }

    /// The port of the shared fixture service.
    static func port() throws -> UInt16 { try shared.get().port }

    private init() throws {
        let env = ProcessInfo.processInfo.environment["PORTWAY_FIXTURE"] ?? ""
        let path =
            env.isEmpty ? repositoryRoot.appendingPathComponent("target/debug/portway-fixture").path : env
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw FixtureError(
                description: "no fixture binary at \(path): run swift/test.sh, or `cargo build -p portway-fixture`")
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        let prefix = "listening 127.0.0.1:"
        guard text.hasPrefix(prefix), let port = UInt16(text.dropFirst(prefix.count).prefix(while: \.isNumber))
        else {
            throw FixtureError(description: "the fixture said \(text.debugDescription)")
        }
        self.port = port
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
}

/// A port on 127.0.0.1 that nothing listens on (bound, read, released).
func unusedPort() throws -> UInt16 {
    let fd = try Socket.make()
    defer { close(fd) }
    var addr = Socket.loopback(port: 0)
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { ptr in
        ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
        }
    }
    guard ok else { throw FixtureError(description: "bind failed: errno \(errno)") }
    return UInt16(bigEndian: addr.sin_port)
}

/// A response as it came off the wire.
struct RawReply {
    let status: Int
    let headers: [(String, String)]
    let body: [UInt8]

    func values(_ name: String) -> [String] {
        headers.filter { $0.0 == name.lowercased() }.map(\.1)
    }
}

/// Writes `request` on a new connection to 127.0.0.1:`port` and reads one response: its head,
/// then a body framed by `Transfer-Encoding: chunked`, `Content-Length` or the end of the
/// connection (none for HEAD, 1xx, 204 and 304). Raw bytes, so that no client library
/// normalises the Host or the headers. Gives up after 10 s.
func rawExchange(port: UInt16, request: [UInt8], headRequest: Bool) throws -> RawReply {
    let fd = try Socket.make()
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var addr = Socket.loopback(port: port)
    let connected = withUnsafePointer(to: &addr) { ptr in
        ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
    guard connected else { throw FixtureError(description: "connect to \(port) failed: errno \(errno)") }
    var sent = 0
    while sent < request.count {
        let n = request.withUnsafeBytes { raw in
            send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(Socket.noSignal))
        }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw FixtureError(description: "send failed: errno \(errno)") }
        sent += n
    }
    var buffer: [UInt8] = []
    var ended = false
    while true {
        if let reply = try parseReply(buffer, ended: ended, headRequest: headRequest) { return reply }
        guard !ended else { throw FixtureError(description: "the connection ended mid-response") }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw FixtureError(description: "no response within 10 s (errno \(errno))") }
        if n == 0 { ended = true } else { buffer += chunk[..<n] }
    }
}

/// One response parsed from `buf`, or nil while more bytes are needed.
private func parseReply(_ buf: [UInt8], ended: Bool, headRequest: Bool) throws -> RawReply? {
    guard let end = find(buf, [13, 10, 13, 10], from: 0) else {
        if ended { throw FixtureError(description: "the connection closed before a response head") }
        return nil
    }
    let lines = String(decoding: buf[..<end], as: UTF8.self).components(separatedBy: "\r\n")
    let statusLine = Array(lines[0].utf8)
    let status = Int(String(decoding: statusLine[9..<min(12, statusLine.count)], as: UTF8.self)) ?? 0
    let headers = lines.dropFirst().map { line -> (String, String) in
        let colon = line.firstIndex(of: ":") ?? line.endIndex
        let value = colon < line.endIndex ? line[line.index(after: colon)...] : ""
        return (line[..<colon].lowercased(), value.trimmingCharacters(in: .whitespaces))
    }
    let head = RawReply(status: status, headers: headers, body: [])
    var at = end + 4
    if headRequest || status < 200 || status == 204 || status == 304 { return head }
    var body: [UInt8] = []
    if head.values("transfer-encoding") == ["chunked"] {
        while true {
            guard let eol = find(buf, [13, 10], from: at) else { return nil }
            let sizeText = String(decoding: buf[at..<eol], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                throw FixtureError(description: "bad chunk size \(sizeText)")
            }
            guard buf.count >= eol + 2 + size + 2 else { return nil }
            if size == 0 { break }  // no trailers in these cases
            body += buf[(eol + 2)..<(eol + 2 + size)]
            at = eol + 2 + size + 2
        }
    } else if let length = head.values("content-length").first.flatMap({ Int($0) }) {
        guard buf.count >= at + length else { return nil }
        body = Array(buf[at..<(at + length)])
    } else {
        guard ended else { return nil }
        body = Array(buf[at...])
    }
    return RawReply(status: status, headers: headers, body: body)
}

private func find(_ haystack: [UInt8], _ needle: [UInt8], from start: Int) -> Int? {
    guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
    for i in start...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
        return i
    }
    return nil
}

private enum Socket {
    #if canImport(Glibc)
        static let noSignal = MSG_NOSIGNAL
    #else
        static let noSignal: Int32 = 0
    #endif

    static func make() throws -> Int32 {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
            var on: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, socklen_t(MemoryLayout<Int32>.size))
        #endif
        guard fd >= 0 else { throw FixtureError(description: "socket failed: errno \(errno)") }
        return fd
    }

    static func loopback(port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }
}
