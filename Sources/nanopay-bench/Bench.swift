import ArgumentParser
import CSQLite
import CSodium
import Enclave
import Foundation
import Ledger
import NanoPayCore
import PostgresLedger

/// `nanopay-bench`: measures CyberNanoPay on this machine in one run (see BENCHMARKS.md).
///
/// 1. the bare libsodium verify rate on one core (the reference);
/// 2. nanopayd (release, separate process) on a temporary data directory with N funded payers,
///    driven over keep-alive HTTP/1.1 at a fixed concurrency: payments/s, latency quantiles,
///    server CPU per payment (from the server's own CPU time), peak RSS, ratio to bare verify;
/// 3. the same at a fixed offered rate (open loop);
/// 4. `POST /verify/batch` (256 per request);
/// 5. the ledger alone, without HTTP.
/// Every answer must be 200 and the ledger's totals must equal what was paid, or the bench fails.
@main
struct NanoPayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nanopay-bench", abstract: "Benchmark CyberNanoPay (verify throughput, latency, CPU per payment).")

    @Option(help: "Funded payer accounts (1000 to 1000000).") var accounts: Int = 1_000
    @Option(help: "Already-spent nonces to preload (0 to 10000000).") var spentNonces: Int = 0
    @Option(help: "Seconds per measured phase.") var duration: Double = 8
    @Option(help: "Connections for the closed-loop phases.") var concurrency: Int = 64
    @Option(help: "Offered rate for the open-loop phase (payments/s).") var rate: Double = 5_000
    @Option(help: "Connections for the batch phase.") var batchConcurrency: Int = 4
    @Option(help: "Path of nanopayd (default: next to this binary).") var nanopayd: String?
    @Option(help: "Path of nanopay-gateway for the gateway phase (default: next to this binary; the phase is skipped if there is none).") var gateway: String?
    @Flag(help: "Print the results as JSON.") var json = false
    @Flag(help: "Keep the temporary data directory and nanopayd's log.") var keepData = false
    @Flag(help: "Run only the ledger-alone phase (for profiling the writer).") var ledgerOnlyPhase = false
    @Option(help: "PostgreSQL server to run replicas on, postgres://USER[:PASSWORD]@HOST[:PORT]/DB (a fresh database is created there for the run and dropped after).") var databaseURL: String?
    @Option(help: "nanopayd replicas on --database-url, the load spread over them (1 to 16).") var replicas: Int = 2

    func validate() throws {
        guard (1...1_000_000).contains(accounts) else { throw ValidationError("--accounts must be 1 to 1000000") }
        guard (0...10_000_000).contains(spentNonces) else { throw ValidationError("--spent-nonces must be 0 to 10000000") }
        guard duration > 0, concurrency > 0, rate > 0 else { throw ValidationError("duration, concurrency and rate must be positive") }
        guard (1...16).contains(replicas) else { throw ValidationError("--replicas must be 1 to 16") }
    }

    static let seller = TONAddress(workchain: 0, hash: [UInt8](repeating: 0x5e, count: 32))

    /// Payer i: a key from its index and the address 0:<i as 64 hex digits> (so SQL can make it too).
    static func payer(_ i: Int) -> (keys: Ed25519KeyPair, address: TONAddress) {
        var seed = [UInt8](repeating: 0xbe, count: 32)
        withUnsafeBytes(of: UInt64(i).bigEndian) { for (k, b) in $0.enumerated() { seed[k] = b } }
        var hash = [UInt8](repeating: 0, count: 24)
        withUnsafeBytes(of: UInt64(i).bigEndian) { hash.append(contentsOf: $0) }
        return (Ed25519KeyPair(seed: seed), TONAddress(workchain: 0, hash: hash))
    }

    func log(_ s: String) { if !json { FileHandle.standardError.write(Data((s + "\n").utf8)) } }

    func run() async throws {
        var report: [String: Any] = ["machine": Self.machine(), "accounts": accounts, "spentNonces": spentNonces,
                                     "durationSeconds": duration, "concurrency": concurrency]
        // 1. Reference: bare libsodium verify on one core.
        let bare = Self.bareVerifyRate(seconds: 2)
        report["bareVerify"] = ["perSecond": bare, "microseconds": 1e6 / bare]
        log(String(format: "bare libsodium verify: %.0f/s (%.1f us)", bare, 1e6 / bare))

        if let databaseURL {
            let server: DatabaseURL
            do { server = try DatabaseURL(parsing: databaseURL) } catch { throw ValidationError(error.description) }
            try await replicated(server: server, replicas: replicas, report: &report)
            if json {
                let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }

        // 2. Seed a data directory, then start nanopayd on it.
        let work = NSTemporaryDirectory() + "nanopay-bench-" + Hex.encode(Sodium.randomBytes(6))
        try FileManager.default.createDirectory(atPath: work + "/data", withIntermediateDirectories: true)
        defer { if keepData { log("kept \(work)") } else { try? FileManager.default.removeItem(atPath: work) } }
        if ledgerOnlyPhase {
            let r = try await ledgerOnly(work: work)
            log(String(format: "ledger alone (no HTTP, signatures pre-verified): %.0f payments/s", r))
            return
        }
        let secretHex = Hex.encode(Sodium.randomBytes(32))
        let seedStarted = Date()
        try await seed(dataDir: work + "/data", secretHex: secretHex)
        report["seedSeconds"] = Date().timeIntervalSince(seedStarted)
        log(String(format: "seeded %d accounts and %d spent nonces in %.1f s", accounts, spentNonces, Date().timeIntervalSince(seedStarted)))

        let binary = nanopayd ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("nanopayd").path
        let server = try ServerProcess(binary: binary, dataDir: work + "/data",
                                       environment: ["NANOPAY_PLATFORM_SECRET": secretHex, "NANOPAY_OPERATOR_TOKEN": "bench"])
        report["startupSeconds"] = server.startupSeconds
        log(String(format: "nanopayd started in %.2f s", server.startupSeconds))
        var paidItems: UInt64 = 0
        do {
            // Pre-signed, distinct authorizations, rendered as whole HTTP requests.
            let singleCount = Int(duration * 40_000), openCount = Int(duration * rate * 1.1) + concurrency
            let batchItems = Int(duration * 60_000)
            log("signing \(singleCount + openCount + batchItems) authorizations…")
            let auths = Self.sign(count: singleCount + openCount + batchItems, accounts: accounts)
            func verifyRequest(_ a: String) -> [UInt8] {
                Array("POST /verify HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: \(a.utf8.count)\r\n\r\n\(a)".utf8)
            }
            let single = auths[0..<singleCount].map(verifyRequest)
            let open = auths[singleCount..<(singleCount + openCount)].map(verifyRequest)
            let batches: [[UInt8]] = stride(from: singleCount + openCount, to: auths.count, by: 256).map { start in
                let items = auths[start..<min(start + 256, auths.count)].joined(separator: ",")
                let body = "{\"authorizations\":[\(items)]}"
                return Array("POST /verify/batch HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
            }

            // Closed loop.
            var cpu0 = server.cpuSeconds, threads0 = server.cpuSecondsByThreadKind
            let closed = try LoadRun(requests: single).run(port: server.port, connections: concurrency, seconds: duration)
            var cpu = server.cpuSeconds - cpu0
            try Self.require(closed, "closed loop")
            paidItems += closed.items
            let perPayment = cpu / Double(closed.items) * 1e6
            report["single"] = Self.figures(closed, cpuMicrosPerPayment: perPayment, bareMicros: 1e6 / bare)
            log(String(format: "POST /verify (closed, %d conns): %.0f payments/s  p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  server CPU %.0f us/payment (%.2fx bare verify)",
                       concurrency, Double(closed.items) / closed.seconds, closed.latency.quantileMilliseconds(0.5),
                       closed.latency.quantileMilliseconds(0.99), closed.latency.quantileMilliseconds(0.999), perPayment, perPayment / (1e6 / bare)))
            report["singleCPUByThread"] = Self.logThreadCPU(from: threads0, to: server.cpuSecondsByThreadKind, payments: closed.items, log: log)

            // Open loop at a fixed rate.
            let openRun = try LoadRun(requests: open).run(port: server.port, connections: concurrency, seconds: duration, ratePerSecond: rate)
            try Self.require(openRun, "open loop")
            paidItems += openRun.items
            report["openLoop"] = ["offeredPerSecond": rate, "achievedPerSecond": Double(openRun.items) / openRun.seconds,
                                  "p50ms": openRun.latency.quantileMilliseconds(0.5), "p99ms": openRun.latency.quantileMilliseconds(0.99),
                                  "p999ms": openRun.latency.quantileMilliseconds(0.999)]
            log(String(format: "POST /verify (open loop, %.0f/s offered): achieved %.0f/s  p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms",
                       rate, Double(openRun.items) / openRun.seconds, openRun.latency.quantileMilliseconds(0.5),
                       openRun.latency.quantileMilliseconds(0.99), openRun.latency.quantileMilliseconds(0.999)))

            // Batch.
            cpu0 = server.cpuSeconds
            threads0 = server.cpuSecondsByThreadKind
            let all200 = Array("\"status\":200".utf8)
            let batch = try LoadRun(requests: batches).run(port: server.port, connections: batchConcurrency, seconds: duration, itemsPerRequest: 256) { body in
                Self.count(all200, in: body) == 256
            }
            cpu = server.cpuSeconds - cpu0
            try Self.require(batch, "batch")
            paidItems += batch.items
            let batchPerPayment = cpu / Double(batch.items) * 1e6
            report["batch"] = Self.figures(batch, cpuMicrosPerPayment: batchPerPayment, bareMicros: 1e6 / bare)
            log(String(format: "POST /verify/batch (256 per request, %d conns): %.0f payments/s  server CPU %.0f us/payment (%.2fx bare verify)",
                       batchConcurrency, Double(batch.items) / batch.seconds, batchPerPayment, batchPerPayment / (1e6 / bare)))
            report["batchCPUByThread"] = Self.logThreadCPU(from: threads0, to: server.cpuSecondsByThreadKind, payments: batch.items, log: log)

            // Through nanopay-gateway, to a trivial upstream.
            let gatewayBinary = gateway ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("nanopay-gateway").path
            if FileManager.default.isExecutableFile(atPath: gatewayBinary) {
                let figures = try gatewayPhase(binary: gatewayBinary, server: server, work: work, count: Int(duration * 20_000) + concurrency,
                                               direct: closed, directCPUMicros: perPayment)
                paidItems += figures.result.items + figures.extraDirectItems
                report["gateway"] = figures.report
            } else {
                log("no nanopay-gateway at \(gatewayBinary): gateway phase skipped")
            }

            report["peakRSSMiB"] = server.peakRSSMiB
            log(String(format: "nanopayd peak RSS: %.0f MiB", server.peakRSSMiB))

            // The ledger must hold exactly what was paid.
            let (status, body) = try server.get("/stats")
            guard status == 200, let stats = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
                  let payments = stats["payments"] as? [String: Any], let settled = payments["settled"] as? Int,
                  let volume = stats["volume"] as? String else { throw BenchError("cannot read /stats") }
            guard settled == Int(paidItems), volume == String(paidItems) else {
                throw BenchError("ledger disagrees with the run: settled \(settled), volume \(volume), answered 200 for \(paidItems)")
            }
            log("ledger totals match: \(paidItems) payments, volume \(volume)")
        } catch {
            _ = server.stop()
            throw error
        }
        let exit = server.stop()
        guard exit == 0 else { throw BenchError("nanopayd exited with \(exit) on SIGTERM") }

        // 5. The ledger alone.
        let ledgerRate = try await ledgerOnly(work: work)
        report["ledgerOnlyPerSecond"] = ledgerRate
        log(String(format: "ledger alone (no HTTP, signatures pre-verified): %.0f payments/s", ledgerRate))

        if json {
            let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    // MARK: - Phases

    static func bareVerifyRate(seconds: Double) -> Double {
        let keys = Ed25519KeyPair(seed: [UInt8](repeating: 1, count: 32))
        let message = Sodium.sha256([1, 2, 3])
        let signature = keys.sign(message)
        let start = Date()
        var n = 0
        while true {
            for _ in 0..<200 { n += Sodium.ed25519Verify(signature: signature, message: message, publicKey: keys.publicKey) ? 1 : 0 }
            if Date().timeIntervalSince(start) >= seconds { break }
        }
        return Double(n) / Date().timeIntervalSince(start)
    }

    /// Funds every payer through the real ledger, then preloads spent nonces with SQL.
    func seed(dataDir: String, secretHex: String) async throws {
        let secret = try PlatformSecret(hex: secretHex)
        _ = try Enclave(.init(directory: dataDir + "/enclave", secret: secret, clock: SystemClock()))
        let ledger = try Ledger(.init(path: dataDir + "/ledger.sqlite", clock: SystemClock()))
        let chunk = 1_024
        for start in stride(from: 0, to: accounts, by: chunk) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in start..<min(start + chunk, accounts) {
                    group.addTask {
                        let p = Self.payer(i)
                        _ = try await ledger.deposit(address: p.address, amount: Amount(1_000_000_000_000), publicKey: p.keys.publicKey, reference: "bench-\(i)")
                    }
                }
                try await group.waitForAll()
            }
        }
        ledger.close()
        guard spentNonces > 0 else { return }
        var db: OpaquePointer?
        guard sqlite3_open(dataDir + "/ledger.sqlite", &db) == SQLITE_OK else { throw BenchError("cannot open the ledger to preload nonces") }
        defer { sqlite3_close(db) }
        // Expired rows: they count for the nonce index size and nothing else (no money moved).
        let sql = """
        WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < \(spentNonces - 1))
        INSERT INTO payments (payer, nonce, payee, amount, valid_before, auth_digest, status, created_at)
        SELECT printf('0:%064x', x % \(accounts)), randomblob(32), '0:\(Hex.encode(Self.seller.hash))', zeroblob(16), 1, zeroblob(32), 'expired', 1 FROM c;
        """
        guard sqlite3_exec(db, "BEGIN; " + sql + " COMMIT;", nil, nil, nil) == SQLITE_OK else {
            throw BenchError("preloading nonces failed: \(String(cString: sqlite3_errmsg(db)))")
        }
    }

    /// Distinct authorizations (amount 1 to the seller), round-robin over the payers, signed on all cores.
    static func sign(count: Int, accounts: Int) -> [String] {
        let payers = (0..<min(accounts, 4_096)).map { payer($0) }
        let validBefore = SystemClock().nowSeconds() + 3_600
        let threads = max(1, ProcessInfo.processInfo.activeProcessorCount)
        var out = [String](repeating: "", count: count)
        out.withUnsafeMutableBufferPointer { buffer in
            let base = UnsafeMutableBufferPointer(start: buffer.baseAddress, count: count)
            nonisolated(unsafe) let shared = base
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                for i in stride(from: t, to: count, by: threads) {
                    let p = payers[i % payers.count]
                    let a = PaymentAuthorization.sign(keyPair: p.keys, from: p.address, to: seller, amount: 1, validBefore: validBefore)
                    shared[i] = "{\"from\":\"\(a.from.raw)\",\"to\":\"\(a.to.raw)\",\"amount\":\"1\",\"validBefore\":\(a.validBefore),\"nonce\":\"\(Hex.encode(a.nonce))\",\"signature\":\"\(Hex.encode(a.signature))\"}"
                }
            }
        }
        return out
    }

    /// Payments straight into the ledger (signatures verified beforehand), many in flight.
    func ledgerOnly(work: String) async throws -> Double {
        let dir = work + "/ledger-only"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let secret = try PlatformSecret(bytes: Sodium.randomBytes(32))
        _ = try Enclave(.init(directory: dir + "/enclave", secret: secret, clock: SystemClock()))
        let ledger = try Ledger(.init(path: dir + "/ledger.sqlite", clock: SystemClock()))
        defer { ledger.close() }
        let payerCount = min(accounts, 1_024)
        for i in 0..<payerCount {
            let p = Self.payer(i)
            _ = try await ledger.deposit(address: p.address, amount: Amount(1_000_000_000_000), publicKey: p.keys.publicKey, reference: "l-\(i)")
        }
        let validBefore = SystemClock().nowSeconds() + 3_600
        let requests: [PaymentRequest] = (0..<Int(duration * 80_000)).map { i in
            let p = Self.payer(i % payerCount)
            let a = PaymentAuthorization(from: p.address, to: Self.seller, amount: 1, validBefore: validBefore,
                                         nonce: Sodium.randomBytes(32), signature: [UInt8](repeating: 0, count: 64))
            return PaymentRequest(authorization: a, digest: a.digest(domain: nil), verifiedPublicKey: p.keys.publicKey)
        }
        let counter = Counter()
        let threadCPUBefore = ServerProcess.cpuSecondsByThreadKind(of: "self")
        let deadline = Date().addingTimeInterval(duration)
        let start = Date()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<512 {
                group.addTask {
                    var n = 0
                    while Date() < deadline, let i = counter.next(limit: requests.count) {
                        _ = try await ledger.recordPayment(requests[i], holdTimeoutSeconds: 300)
                        n += 1
                    }
                    return n
                }
            }
            var total = 0
            for try await n in group { total += n }
            counter.done = total
        }
        let rate = Double(counter.done) / Date().timeIntervalSince(start)
        let threadCPUAfter = ServerProcess.cpuSecondsByThreadKind(of: "self")
        let writerMicros = ["ledgerWriter", "checkpointer"].map { kind in
            ((threadCPUAfter[kind] ?? 0) - (threadCPUBefore[kind] ?? 0)) / Double(max(counter.done, 1)) * 1e6
        }
        log(String(format: "  (mean commit batch %.1f payments; CPU per payment: ledger writer %.1f us, checkpointer %.1f us; WAL frames written per payment %.2f)",
                   ledger.meanBatchSize, writerMicros[0], writerMicros[1], Double(ledger.walFramesWritten) / Double(max(counter.done, 1))))
        return rate
    }

    // MARK: - Helpers

    static func require(_ r: LoadRun.Result, _ phase: String) throws {
        guard r.failures == 0 else { throw BenchError("\(phase): \(r.failures) of \(r.requests) requests failed; first: \(r.firstFailure ?? "?")") }
        guard r.items > 0 else { throw BenchError("\(phase): no request completed") }
    }

    /// Server CPU per payment split by thread kind: where the time goes, without a profiler.
    static func logThreadCPU(from before: [String: Double], to after: [String: Double], payments: UInt64,
                             log: (String) -> Void) -> [String: Double] {
        var micros: [String: Double] = [:]
        for (kind, seconds) in after { micros[kind] = (seconds - (before[kind] ?? 0)) / Double(max(payments, 1 as UInt64)) * 1e6 }
        let labels = [("ledgerWriter", "ledger writer"), ("checkpointer", "checkpointer"),
                      ("taskPoolAndOther", "task pool (handlers, verify, signing)"), ("eventLoops", "NIO event loops")]
        log("  server CPU by thread, us/payment: " + labels.map { "\($0.1) \(Int((micros[$0.0] ?? 0).rounded()))" }.joined(separator: ", "))
        return micros
    }

    static func figures(_ r: LoadRun.Result, cpuMicrosPerPayment: Double, bareMicros: Double) -> [String: Any] {
        ["paymentsPerSecond": Double(r.items) / r.seconds, "requests": r.requests, "payments": r.items,
         "p50ms": r.latency.quantileMilliseconds(0.5), "p99ms": r.latency.quantileMilliseconds(0.99), "p999ms": r.latency.quantileMilliseconds(0.999),
         "serverCPUMicrosPerPayment": cpuMicrosPerPayment, "ratioToBareVerify": cpuMicrosPerPayment / bareMicros]
    }

    static func count(_ needle: [UInt8], in hay: [UInt8]) -> Int {
        guard hay.count >= needle.count else { return 0 }
        var n = 0, i = 0
        while i <= hay.count - needle.count {
            if hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle { n += 1; i += needle.count } else { i += 1 }
        }
        return n
    }

    static func machine() -> String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("model name") }.map { String($0.split(separator: ":")[1]).trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpu), \(ProcessInfo.processInfo.physicalMemory / (1 << 30)) GiB"
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    var done = 0
    func next(limit: Int) -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}
