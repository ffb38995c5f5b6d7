import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Latencies in microseconds, log-bucketed (about 2% resolution), mergeable across threads.
struct LatencyHistogram {
    private(set) var buckets = [UInt64](repeating: 0, count: 1200)
    private(set) var count: UInt64 = 0

    static func index(_ micros: Double) -> Int { min(1199, max(0, Int((log(max(micros, 1)) * 50).rounded(.down)))) }
    static func value(_ index: Int) -> Double { exp(Double(index + 1) / 50) }

    mutating func record(micros: Double) { buckets[Self.index(micros)] += 1; count += 1 }
    mutating func merge(_ other: LatencyHistogram) { for i in buckets.indices { buckets[i] += other.buckets[i] }; count += other.count }

    /// Quantile in milliseconds.
    func quantileMilliseconds(_ q: Double) -> Double {
        guard count > 0 else { return 0 }
        let target = UInt64((Double(count) * q).rounded(.up))
        var seen: UInt64 = 0
        for (i, c) in buckets.enumerated() {
            seen += c
            if seen >= target { return Self.value(i) / 1000 }
        }
        return Self.value(buckets.count - 1) / 1000
    }
}

/// One keep-alive HTTP/1.1 connection on a blocking socket: minimal client cost per request, so
/// the shared two cores go to the server.
/// Used by one thread at a time (its load thread).
final class BlockingConnection: @unchecked Sendable {
    private let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var pending: [UInt8] = []

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket() failed") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); throw BenchError("connect to 127.0.0.1:\(port) failed") }
    }

    deinit { close(fd) }

    /// Sends one request and returns the status and body.
    func roundTrip(_ request: [UInt8]) throws -> (status: Int, body: [UInt8]) {
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, request.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw BenchError("send failed") }
            sent += n
        }
        // Head
        var headEnd: Int? = nil
        while true {
            if let end = Self.find(pending, [13, 10, 13, 10]) { headEnd = end; break }
            try fill()
        }
        let head = String(decoding: pending[0..<headEnd!], as: UTF8.self)
        let status = Int(head.split(separator: " ", maxSplits: 2)[1]) ?? 0
        var length = 0
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        let bodyStart = headEnd! + 4
        while pending.count < bodyStart + length { try fill() }
        let body = Array(pending[bodyStart..<(bodyStart + length)])
        pending.removeFirst(bodyStart + length)
        return (status, body)
    }

    private func fill() throws {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw BenchError("connection closed by server") }
        pending.append(contentsOf: buffer[0..<n])
    }

    static func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        var i = 0
        while i <= hay.count - needle.count {
            if hay[i] == needle[0] && hay[i + 1] == needle[1] && hay[i + 2] == needle[2] && hay[i + 3] == needle[3] { return i }
            i += 1
        }
        return nil
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Drives pre-built requests over keep-alive connections, one thread per connection.
final class LoadRun: @unchecked Sendable {
    struct Result {
        var requests: UInt64 = 0
        var items: UInt64 = 0
        var failures: UInt64 = 0
        var latency = LatencyHistogram()
        var seconds: Double = 0
        var firstFailure: String?
        /// The same figures for each port (replica), when the run spread over several.
        var byPort: [UInt16: Result] = [:]
    }

    private let lock = NSLock()
    private var next = 0
    private let requests: [[UInt8]]

    init(requests: [[UInt8]]) { self.requests = requests }

    private func take() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard next < requests.count else { return nil }
        next += 1
        return next - 1
    }

    /// Closed loop (`ratePerSecond == nil`): each connection sends as soon as it has its answer.
    /// Open loop: sends are scheduled at a fixed total rate and latency counts from the scheduled
    /// time, so a slow answer is not hidden by the sends it delayed.
    /// `itemsPerRequest` and `check` validate each answer (a failure is any non-200 or a failed check).
    func run(port: UInt16, connections: Int, seconds: Double, ratePerSecond: Double? = nil, itemsPerRequest: Int = 1,
             check: @escaping @Sendable ([UInt8]) -> Bool = { _ in true }) throws -> Result {
        try run(ports: [port], connections: connections, seconds: seconds, ratePerSecond: ratePerSecond, itemsPerRequest: itemsPerRequest, check: check)
    }

    /// The same, with connection i to `ports[i % ports.count]` (replicas behind no balancer).
    func run(ports: [UInt16], connections: Int, seconds: Double, ratePerSecond: Double? = nil, itemsPerRequest: Int = 1,
             check: @escaping @Sendable ([UInt8]) -> Bool = { _ in true }) throws -> Result {
        var conns: [BlockingConnection] = []
        for i in 0..<connections { conns.append(try BlockingConnection(port: ports[i % ports.count])) }
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var all: [Result]
            init(_ n: Int) { all = [Result](repeating: Result(), count: n) }
        }
        let results = Results(connections)
        let group = DispatchGroup()
        let start = Date()
        let deadline = start.addingTimeInterval(seconds)
        for (i, conn) in conns.enumerated() {
            group.enter()
            let thread = Thread { [self] in
                var r = Result()
                var k = 0
                while Date() < deadline, let index = take() {
                    var scheduled = Date()
                    if let rate = ratePerSecond {
                        scheduled = start.addingTimeInterval(Double(k * connections + i) / rate)
                        k += 1
                        let wait = scheduled.timeIntervalSinceNow
                        if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
                        if scheduled > deadline { break }
                    }
                    do {
                        let (status, body) = try conn.roundTrip(requests[index])
                        r.latency.record(micros: Date().timeIntervalSince(scheduled) * 1_000_000)
                        r.requests += 1
                        if status == 200 && check(body) { r.items += UInt64(itemsPerRequest) } else {
                            r.failures += 1
                            if r.firstFailure == nil { r.firstFailure = "HTTP \(status): \(String(decoding: body.prefix(300), as: UTF8.self))" }
                        }
                    } catch {
                        r.failures += 1
                        if r.firstFailure == nil { r.firstFailure = "\(error)" }
                        break
                    }
                }
                results.lock.lock(); results.all[i] = r; results.lock.unlock()
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        var total = Result()
        total.seconds = Date().timeIntervalSince(start)
        for (i, r) in results.all.enumerated() {
            total.requests += r.requests; total.items += r.items; total.failures += r.failures
            total.latency.merge(r.latency)
            if total.firstFailure == nil { total.firstFailure = r.firstFailure }
            let port = ports[i % ports.count]
            var p = total.byPort[port] ?? Result()
            p.requests += r.requests; p.items += r.items; p.failures += r.failures; p.latency.merge(r.latency); p.seconds = total.seconds
            total.byPort[port] = p
        }
        return total
    }

    var used: Int { lock.lock(); defer { lock.unlock() }; return next }
}
