import Enclave
import Foundation
import NanoPayCore
import PostgresLedger

/// `--database-url URL --replicas N`: N nanopayd processes on one PostgreSQL database (a fresh
/// one created on that server for the run, dropped afterwards), the load spread over them
/// connection by connection. Prints the usual figures per replica and in total, the CPU each
/// party spent per payment (replicas, PostgreSQL, this load generator), and checks the ledger's
/// totals and invariants at the end.
extension NanoPayBench {
    func replicated(server: DatabaseURL, replicas: Int, report: inout [String: Any]) async throws {
        let name = "nanopay_bench_" + Hex.encode(Sodium.randomBytes(4))
        let url = try await DatabaseAdmin.createDatabase(name, on: server)
        defer {
            if !keepData {
                let semaphore = DispatchSemaphore(value: 0)
                Task { try? await DatabaseAdmin.dropDatabase(name, on: server); semaphore.signal() }
                semaphore.wait()
            } else { log("kept database \(name)") }
        }
        let synchronousCommit = try await DatabaseAdmin.setting("synchronous_commit", on: url)
        report["postgres"] = ["replicas": replicas, "synchronousCommit": synchronousCommit]
        log("PostgreSQL \(url.redacted), \(replicas) replicas, synchronous_commit=\(synchronousCommit)")

        // The cluster's identity first (a ledger with data and no identity is refused), then seed
        // through the engine itself, then start the replicas.
        let secretHex = Hex.encode(Sodium.randomBytes(32))
        let seeding = try await PostgresLedger.open(.init(url: url, clock: SystemClock()))
        _ = try await seeding.clusterIdentity(storingIfAbsent: Enclave.sealNewIdentity(secret: try PlatformSecret(hex: secretHex)))
        let started = Date()
        for start in stride(from: 0, to: accounts, by: 256) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in start..<min(start + 256, accounts) {
                    group.addTask {
                        let p = Self.payer(i)
                        _ = try await seeding.deposit(address: p.address, amount: Amount(1_000_000_000_000), publicKey: p.keys.publicKey, reference: "bench-\(i)")
                    }
                }
                try await group.waitForAll()
            }
        }
        seeding.close()
        log(String(format: "seeded %d accounts in %.1f s", accounts, Date().timeIntervalSince(started)))

        let work = NSTemporaryDirectory() + "nanopay-bench-" + Hex.encode(Sodium.randomBytes(6))
        defer { if !keepData { try? FileManager.default.removeItem(atPath: work) } }
        let binary = nanopayd ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("nanopayd").path
        var servers: [ServerProcess] = []
        defer { for s in servers { _ = s.stop() } }
        for r in 0..<replicas {
            try FileManager.default.createDirectory(atPath: work + "/replica-\(r)/data", withIntermediateDirectories: true)
            servers.append(try ServerProcess(binary: binary, dataDir: work + "/replica-\(r)/data", environment: [
                "NANOPAY_PLATFORM_SECRET": secretHex, "NANOPAY_OPERATOR_TOKEN": "bench", "NANOPAY_DATABASE_URL": url.text]))
        }
        let ports = servers.map(\.port)

        let closedCount = Int(duration * 20_000), openCount = Int(duration * rate * 1.1) + concurrency
        log("signing \(closedCount + openCount) authorizations…")
        let auths = Self.sign(count: closedCount + openCount, accounts: accounts)
        func verifyRequest(_ a: String) -> [UInt8] {
            Array("POST /verify HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: \(a.utf8.count)\r\n\r\n\(a)".utf8)
        }
        var paid: UInt64 = 0

        // Closed loop, then open loop at the offered rate; CPU per payment by party.
        for (phase, requests, offered) in [("closed", auths[0..<closedCount].map(verifyRequest), nil as Double?),
                                           ("open", auths[closedCount...].map(verifyRequest), rate)] {
            let cpuBefore = servers.map(\.cpuSeconds), pgBefore = Self.postgresCPUSeconds(), selfBefore = Self.ownCPUSeconds()
            let result = try LoadRun(requests: requests).run(ports: ports, connections: concurrency, seconds: duration, ratePerSecond: offered)
            try Self.require(result, "replicated \(phase) loop")
            paid += result.items
            let n = Double(result.items)
            let replicaMicros = zip(servers, cpuBefore).map { ($0.cpuSeconds - $1) / n * 1e6 }
            let pgMicros = (Self.postgresCPUSeconds() - pgBefore) / n * 1e6, loadMicros = (Self.ownCPUSeconds() - selfBefore) / n * 1e6
            var figures: [String: Any] = ["paymentsPerSecond": n / result.seconds, "p50ms": result.latency.quantileMilliseconds(0.5),
                                          "p99ms": result.latency.quantileMilliseconds(0.99), "p999ms": result.latency.quantileMilliseconds(0.999),
                                          "cpuMicrosPerPayment": ["replicas": replicaMicros.reduce(0, +), "postgres": pgMicros, "loadGenerator": loadMicros]]
            if let offered { figures["offeredPerSecond"] = offered }
            log(String(format: "POST /verify over %d replicas (%@, %d conns%@): %.0f payments/s  p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms",
                       replicas, phase, concurrency, offered.map { String(format: ", %.0f/s offered", $0) } ?? "", n / result.seconds,
                       result.latency.quantileMilliseconds(0.5), result.latency.quantileMilliseconds(0.99), result.latency.quantileMilliseconds(0.999)))
            var perReplica: [[String: Any]] = []
            for (r, port) in ports.enumerated() {
                guard let p = result.byPort[port] else { continue }
                perReplica.append(["paymentsPerSecond": Double(p.items) / result.seconds, "p50ms": p.latency.quantileMilliseconds(0.5),
                                   "p99ms": p.latency.quantileMilliseconds(0.99), "cpuMicrosPerPayment": replicaMicros[r] * n / Double(max(p.items, 1))])
                log(String(format: "  replica %d: %.0f payments/s  p50 %.2f ms  p99 %.2f ms  CPU %.0f us/payment", r, Double(p.items) / result.seconds,
                           p.latency.quantileMilliseconds(0.5), p.latency.quantileMilliseconds(0.99), replicaMicros[r] * n / Double(max(p.items, 1))))
            }
            figures["perReplica"] = perReplica
            log(String(format: "  CPU per payment: replicas %.0f us, PostgreSQL %.0f us, load generator %.0f us (2 cores = %.0f us of CPU per payment at this rate)",
                       replicaMicros.reduce(0, +), pgMicros, loadMicros, 2e6 / (n / result.seconds)))
            report["replicated-\(phase)"] = figures
        }
        // The ledger must hold exactly what was paid, and balance.
        let check = try await PostgresLedger.open(.init(url: url, clock: SystemClock(), operationTimeoutMilliseconds: 120_000))
        defer { check.close() }
        let totals = check.totals
        guard totals.paymentsSettled == paid, totals.volume == Amount(UInt128(paid)) else {
            throw BenchError("ledger disagrees with the run: settled \(totals.paymentsSettled), volume \(totals.volume), answered 200 for \(paid)")
        }
        let invariants = try await check.checkInvariants()
        guard invariants.isConsistent else { throw BenchError("ledger invariants broken: \(invariants)") }
        log("ledger totals match: \(paid) payments over \(replicas) replicas; invariants hold")
    }

    /// CPU seconds of every PostgreSQL server process on this machine (backends included).
    static func postgresCPUSeconds() -> Double {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { $0.allSatisfy(\.isNumber) }.reduce(0) { sum, pid in
            guard let stat = ServerProcess.readStat("/proc/\(pid)/stat"), stat.name == "postgres" else { return sum }
            return sum + stat.cpuSeconds
        }
    }

    static func ownCPUSeconds() -> Double { ServerProcess.readStat("/proc/self/stat")?.cpuSeconds ?? 0 }
}
