import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A small HTTP and WebSocket service on 127.0.0.1 (blocking sockets, a thread per
/// connection), the "sandbox service" of the tests. It follows the echo service of the Rust
/// tests (core/tests/support):
///
/// - `GET|POST /anything` answers JSON `{"method", "path", "headers", "body_len"}`;
/// - `/cookies` sets two cookies;
/// - `/ws` upgrades to a WebSocket that echoes text and binary messages, answers the text
///   `headers` with the handshake's headers as JSON, and closes itself on the text
///   `close:{code}:{reason}`; the first subprotocol offered is chosen;
/// - `/ws-refuse` refuses the upgrade with 403.
final class EchoServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32

    init() throws {
        signal(SIGPIPE, SIG_IGN)
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw EchoServerError(what: "socket", errno: errno) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && listen(fd, 128) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard ok else {
            let err = errno
            close(fd)
            throw EchoServerError(what: "bind/listen", errno: err)
        }
        port = UInt16(bigEndian: addr.sin_port)
        listener = fd
        Thread.detachNewThread { EchoServer.acceptLoop(fd) }
    }

    /// Stops accepting (open connections finish on their own).
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func acceptLoop(_ listener: Int32) {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            Thread.detachNewThread { Connection(fd: fd).serve() }
        }
    }
}

struct EchoServerError: Error, CustomStringConvertible {
    let what: String
    let errno: Int32
    var description: String { "\(what) failed: errno \(errno)" }
}

/// One client connection of the echo service.
private final class Connection {
    let fd: Int32
    var buffer: [UInt8] = []

    init(fd: Int32) { self.fd = fd }

    func serve() {
        defer { close(fd) }
        while let (method, target, headers) = readHead() {
            let path = String(target.split(separator: "?", maxSplits: 1).first ?? "")
            if path == "/ws" || path == "/ws-refuse" {
                if path == "/ws-refuse" {
                    respond(status: "403 Forbidden", headers: [], body: Array("no websockets here".utf8))
                    return
                }
                webSocket(headers: headers)
                return
            }
            guard let body = readBody(headers: headers) else { return }
            if path == "/cookies" {
                respond(
                    status: "200 OK",
                    headers: [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/; HttpOnly")],
                    body: Array("cookies".utf8))
                continue
            }
            let echo: [String: Any] = [
                "method": method, "path": target, "headers": headersObject(headers),
                "body_len": body.count,
            ]
            let json = (try? JSONSerialization.data(withJSONObject: echo, options: [.sortedKeys])) ?? Data()
            respond(
                status: "200 OK", headers: [("Content-Type", "application/json")], body: Array(json))
        }
    }

    // MARK: HTTP

    /// The request line and headers (names lowercased); `nil` at the end of the connection.
    func readHead() -> (String, String, [(String, String)])? {
        let end: Int
        while true {
            if let i = find([13, 10, 13, 10]) {
                end = i
                break
            }
            if buffer.count > 64 * 1024 || !readMore() { return nil }
        }
        let head = String(decoding: buffer[..<end], as: UTF8.self)
        buffer.removeFirst(end + 4)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count == 3 else { return nil }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            return (name, value)
        }
        return (String(requestLine[0]), String(requestLine[1]), headers)
    }

    func readBody(headers: [(String, String)]) -> [UInt8]? {
        if let te = value("transfer-encoding", in: headers), te.lowercased().contains("chunked") {
            var body: [UInt8] = []
            while true {
                guard let lineEnd = readLine() else { return nil }
                let sizeText = lineEnd.split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                    return nil
                }
                if size == 0 {
                    while let trailer = readLine(), !trailer.isEmpty {}
                    return body
                }
                guard let chunk = readExactly(size), readExactly(2) != nil else { return nil }
                body += chunk
            }
        }
        let length = value("content-length", in: headers).flatMap { Int($0) } ?? 0
        return readExactly(length)
    }

    func respond(status: String, headers: [(String, String)], body: [UInt8]) {
        var head = "HTTP/1.1 \(status)\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        _ = write(Array(head.utf8) + body)
    }

    // MARK: WebSocket

    func webSocket(headers: [(String, String)]) {
        guard let key = value("sec-websocket-key", in: headers) else {
            respond(status: "400 Bad Request", headers: [], body: [])
            return
        }
        let accept = Data(sha1(Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8)))
            .base64EncodedString()
        var head =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: \(accept)\r\n"
        if let offered = value("sec-websocket-protocol", in: headers),
            let first = offered.split(separator: ",").first
        {
            head += "Sec-WebSocket-Protocol: \(first.trimmingCharacters(in: .whitespaces))\r\n"
        }
        head += "\r\n"
        guard write(Array(head.utf8)) else { return }
        let seen = (try? JSONSerialization.data(withJSONObject: headersObject(headers), options: [.sortedKeys]))
            .map { String(decoding: $0, as: UTF8.self) } ?? "{}"

        var message: [UInt8] = []
        var messageOpcode: UInt8 = 0
        while let (fin, opcode, payload) = readFrame() {
            switch opcode {
            case 0x8:  // close: answer with the same code and reason, then hang up
                _ = writeFrame(opcode: 0x8, payload: payload)
                return
            case 0x9:
                _ = writeFrame(opcode: 0xA, payload: payload)
                continue
            case 0xA:
                continue
            case 0x0:
                message += payload
            default:
                messageOpcode = opcode
                message = payload
            }
            guard fin else { continue }
            if messageOpcode == 0x1 {
                let text = String(decoding: message, as: UTF8.self)
                if text == "headers" {
                    _ = writeFrame(opcode: 0x1, payload: Array(seen.utf8))
                    continue
                }
                if text.hasPrefix("close:") {
                    let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                    let code = UInt16(parts.count > 1 ? parts[1] : "") ?? 1000
                    let reason = parts.count > 2 ? Array(parts[2].utf8) : []
                    _ = writeFrame(opcode: 0x8, payload: [UInt8(code >> 8), UInt8(code & 0xff)] + reason)
                    // Wait for the client's answering close before hanging up.
                    while let (_, op, _) = readFrame(), op != 0x8 {}
                    return
                }
            }
            _ = writeFrame(opcode: messageOpcode, payload: message)
        }
    }

    func readFrame() -> (fin: Bool, opcode: UInt8, payload: [UInt8])? {
        guard let h = readExactly(2) else { return nil }
        var length = UInt64(h[1] & 0x7f)
        if length == 126 {
            guard let b = readExactly(2) else { return nil }
            length = UInt64(b[0]) << 8 | UInt64(b[1])
        } else if length == 127 {
            guard let b = readExactly(8) else { return nil }
            length = b.reduce(0) { $0 << 8 | UInt64($1) }
        }
        guard length <= 64 << 20 else { return nil }
        var mask: [UInt8] = [0, 0, 0, 0]
        if h[1] & 0x80 != 0 {
            guard let m = readExactly(4) else { return nil }
            mask = m
        }
        guard var payload = readExactly(Int(length)) else { return nil }
        for i in payload.indices { payload[i] ^= mask[i % 4] }
        return (h[0] & 0x80 != 0, h[0] & 0x0f, payload)
    }

    func writeFrame(opcode: UInt8, payload: [UInt8]) -> Bool {
        var frame: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            frame.append(UInt8(payload.count))
        } else if payload.count <= 0xffff {
            frame += [126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            frame.append(127)
            frame += (0..<8).reversed().map { UInt8((UInt64(payload.count) >> (UInt64($0) * 8)) & 0xff) }
        }
        return write(frame + payload)
    }

    // MARK: Bytes

    func readMore() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return false }
        buffer += chunk[..<n]
        return true
    }

    func readExactly(_ count: Int) -> [UInt8]? {
        while buffer.count < count {
            if !readMore() { return nil }
        }
        let out = Array(buffer[..<count])
        buffer.removeFirst(count)
        return out
    }

    func readLine() -> String? {
        while true {
            if let i = find([13, 10]) {
                let line = String(decoding: buffer[..<i], as: UTF8.self)
                buffer.removeFirst(i + 2)
                return line
            }
            if !readMore() { return nil }
        }
    }

    func find(_ needle: [UInt8]) -> Int? {
        guard buffer.count >= needle.count else { return nil }
        for i in 0...(buffer.count - needle.count) where buffer[i..<(i + needle.count)].elementsEqual(needle) {
            return i
        }
        return nil
    }

    func write(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    func value(_ name: String, in headers: [(String, String)]) -> String? {
        headers.first { $0.0 == name }?.1
    }

    func headersObject(_ headers: [(String, String)]) -> [String: String] {
        var object: [String: String] = [:]
        for (name, value) in headers {
            object[name] = object[name].map { "\($0), \(value)" } ?? value
        }
        return object
    }
}

/// SHA-1 (FIPS 180-4), for the WebSocket handshake's `Sec-WebSocket-Accept`.
func sha1(_ message: [UInt8]) -> [UInt8] {
    func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }
    var h: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
    var m = message
    let bitLength = UInt64(message.count) * 8
    m.append(0x80)
    while m.count % 64 != 56 { m.append(0) }
    m += (0..<8).reversed().map { UInt8((bitLength >> (UInt64($0) * 8)) & 0xff) }
    var w = [UInt32](repeating: 0, count: 80)
    for chunk in stride(from: 0, to: m.count, by: 64) {
        for i in 0..<16 {
            let j = chunk + 4 * i
            w[i] = UInt32(m[j]) << 24 | UInt32(m[j + 1]) << 16 | UInt32(m[j + 2]) << 8 | UInt32(m[j + 3])
        }
        for i in 16..<80 { w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1) }
        var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
        for i in 0..<80 {
            let f: UInt32
            let k: UInt32
            switch i {
            case 0..<20: (f, k) = ((b & c) | (~b & d), 0x5A82_7999)
            case 20..<40: (f, k) = (b ^ c ^ d, 0x6ED9_EBA1)
            case 40..<60: (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
            default: (f, k) = (b ^ c ^ d, 0xCA62_C1D6)
            }
            let t = rotl(a, 5) &+ f &+ e &+ k &+ w[i]
            (e, d, c, b, a) = (d, c, rotl(b, 30), a, t)
        }
        h[0] &+= a
        h[1] &+= b
        h[2] &+= c
        h[3] &+= d
        h[4] &+= e
    }
    return h.flatMap { [UInt8($0 >> 24), UInt8(($0 >> 16) & 0xff), UInt8(($0 >> 8) & 0xff), UInt8($0 & 0xff)] }
}
