import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The cheapest possible upstream for the gateway phase: a blocking keep-alive HTTP/1.1 server
/// on 127.0.0.1, one thread per connection, that answers every request (no body expected) with
/// `200 ok`. What it costs is part of the figures, so it does nothing else.
final class TrivialUpstream: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) == 0 && getsockname(listener, $0, &len) == 0 }
        }
        guard ok, listen(listener, 512) == 0 else { throw BenchError("the trivial upstream cannot listen") }
        port = UInt16(bigEndian: addr.sin_port)
        self.listener = listener
        let acceptor = Thread {
            while true {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else { return }
                let t = Thread { Self.serve(fd) }
                t.stackSize = 256 << 10
                t.start()
            }
        }
        acceptor.start()
    }

    static let answer = Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok".utf8)

    static func serve(_ fd: Int32) {
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var pending: [UInt8] = []
        let end = Array("\r\n\r\n".utf8)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            guard n > 0 else { return }
            pending.append(contentsOf: buffer[0..<n])
            while let i = BlockingConnection.find(pending, end) {
                pending.removeFirst(i + 4)
                let sent = answer.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
                guard sent == answer.count else { return }
            }
        }
    }

    func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }
}
