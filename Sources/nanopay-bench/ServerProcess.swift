import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A nanopayd child process, with its CPU time and peak RSS read from /proc.
final class ServerProcess {
    let process = Process()
    let port: UInt16
    let startupSeconds: Double

    init(binary: String, dataDir: String, environment: [String: String]) throws {
        port = try Self.freePort()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--data-dir", dataDir, "--port", String(port)]
        process.environment = ProcessInfo.processInfo.environment.merging(environment.merging(["NANOPAY_LOG_LEVEL": "warning"]) { $1 }) { $1 }
        let log = FileHandle(forWritingAtPath: "/dev/null")
        FileManager.default.createFile(atPath: dataDir + "/../nanopayd.log", contents: nil)
        process.standardOutput = log
        process.standardError = FileHandle(forWritingAtPath: dataDir + "/../nanopayd.log") ?? log
        let started = Date()
        try process.run()
        try Self.waitUntilAnswering(process, port: port, path: "/health", name: "nanopayd", log: dataDir + "/../nanopayd.log")
        startupSeconds = Date().timeIntervalSince(started)
    }

    /// Polls `GET path` on 127.0.0.1:`port` until it answers 200; throws if `process` exits
    /// first or 60 s pass.
    static func waitUntilAnswering(_ process: Process, port: UInt16, path: String, name: String, log: String) throws {
        let started = Date()
        while true {
            if !process.isRunning { throw BenchError("\(name) exited during start-up (see \(log))") }
            if let c = try? BlockingConnection(port: port),
               let r = try? c.roundTrip(Array("GET \(path) HTTP/1.1\r\nHost: bench\r\n\r\n".utf8)), r.status == 200 { return }
            if Date().timeIntervalSince(started) > 60 { throw BenchError("\(name) did not answer \(path) within 60 s") }
            usleep(5_000)
        }
    }

    /// User + system CPU seconds consumed so far.
    var cpuSeconds: Double {
        Self.readStat("/proc/\(process.processIdentifier)/stat")?.cpuSeconds ?? 0
    }

    /// The command name and user + system CPU seconds of a process's or thread's stat file.
    static func readStat(_ path: String) -> (name: Substring, cpuSeconds: Double)? {
        guard let stat = try? String(contentsOfFile: path, encoding: .utf8),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state(0) ppid(1) ... utime(11) stime(12)
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return (stat[stat.index(after: open)..<close], ticks / Double(sysconf(Int32(_SC_CLK_TCK))))
    }

    /// CPU seconds consumed so far by each kind of server thread, from /proc/PID/task/*/stat.
    /// The ledger names its two threads; NIO names its event loops; the rest is Swift's task
    /// pool (request handling, signature checks, receipt signing) and anything else.
    var cpuSecondsByThreadKind: [String: Double] { Self.cpuSecondsByThreadKind(of: String(process.processIdentifier)) }

    /// The same for any process: a pid, or "self" for the bench's own ledger-alone phase.
    static func cpuSecondsByThreadKind(of pid: String) -> [String: Double] {
        let taskDirectory = "/proc/\(pid)/task"
        var byKind: [String: Double] = [:]
        for task in (try? FileManager.default.contentsOfDirectory(atPath: taskDirectory)) ?? [] {
            guard let (name, seconds) = readStat("\(taskDirectory)/\(task)/stat") else { continue }
            let kind = name == "np-ledger-write" ? "ledgerWriter" : name == "np-checkpointer" ? "checkpointer"
                : name.hasPrefix("NIO-") ? "eventLoops" : "taskPoolAndOther"
            byKind[kind, default: 0] += seconds
        }
        return byKind
    }

    /// Peak resident set size in MiB (VmHWM).
    var peakRSSMiB: Double {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
        let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        return kb / 1024
    }

    func get(_ path: String) throws -> (Int, [UInt8]) {
        try BlockingConnection(port: port).roundTrip(Array("GET \(path) HTTP/1.1\r\nHost: bench\r\n\r\n".utf8))
    }

    func stop() -> Int32 {
        process.interrupt()
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationStatus
    }

    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw BenchError("cannot find a free port") }
        return UInt16(bigEndian: addr.sin_port)
    }
}
