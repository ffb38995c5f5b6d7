import Foundation
import NanoPayClient
import NanoPayCore
import NanoPayTestSupport
import PostgresLedger
import Synchronization
import Testing

/// Two real nanopayd processes on one PostgreSQL database: one killed with SIGKILL under load,
/// and the database itself stopped and started under load. What was acknowledged must be there,
/// resubmissions must be replays, and the books must balance.
@Suite(.serialized) struct ReplicaClusterTests {
    static let token = "t"

    static func environment(_ url: DatabaseURL) -> [String: String] {
        ["NANOPAY_PLATFORM_SECRET": DaemonProcessTests.secretHex, "NANOPAY_OPERATOR_TOKEN": token, "NANOPAY_LOG_LEVEL": "warning",
         "NANOPAY_DATABASE_URL": "postgres://\(url.user)@\(url.host):\(url.port)/\(url.database)"]
    }

    /// What the load saw: 200s with their confirmation ids, and everything else.
    final class Load: Sendable {
        let acknowledged = Locked<[(AuthorizationFields, String)]>([])
        let unanswered = Locked<[AuthorizationFields]>([])
        /// Status and error code of every non-200 answer.
        let refusals = Locked<[String: Int]>([:])
        let stopped = Atomic<Bool>(false)
    }

    /// One worker: pays through `client` until stopped (or the connection is refused).
    static func work(_ client: ServiceClient, _ buyer: Buyer, _ load: Load) async {
        while !load.stopped.load(ordering: .relaxed) {
            let auth = CrashTests.sign(buyer)
            do {
                let a = try await client.send(.POST, "/verify", json: JSONEncoder().encode(auth))
                if a.status == 200, let id = CrashTests.json(a)["confirmationId"] as? String {
                    load.acknowledged.withLock { $0.append((auth, id)) }
                } else {
                    load.unanswered.withLock { $0.append(auth) }
                    let code = CrashTests.json(a)["error"] as? String ?? "?"
                    load.refusals.withLock { $0["\(a.status) \(code)", default: 0] += 1 }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            } catch {
                load.unanswered.withLock { $0.append(auth) }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// After the load: every acknowledged payment is in the database with its receipt, every
    /// authorization resubmitted to `survivor` is applied exactly once in total, the books balance.
    static func checkAfterwards(_ url: DatabaseURL, survivor: ServiceClient, workers: [Buyer], load: Load) async throws {
        let acknowledged = load.acknowledged.withLock { $0 }
        let unanswered = load.unanswered.withLock { $0 }
        let ledger = try await PostgresLedger.open(.forTests(url, clock: SystemClock()))
        defer { ledger.close() }
        for (auth, id) in acknowledged {
            let facts = try await ledger.settledPayment(confirmationId: id)
            #expect(facts.map { Hex.encode($0.nonce) } == auth.nonce, "acknowledged payment \(id) is missing")
        }
        let results = try await CrashTests.verifyBatch(survivor, acknowledged.map(\.0) + unanswered)
        for (i, (status, body)) in results.enumerated() {
            #expect(status == 200, "resubmission \(i) answered \(status) \(body)")
            if i < acknowledged.count {
                #expect(body["replayed"] as? Bool == true && body["confirmationId"] as? String == acknowledged[i].1,
                        "acknowledged payment \(acknowledged[i].1) was applied again or answered differently")
            }
        }
        let all = acknowledged.map(\.0) + unanswered
        for b in workers {
            let sent = all.filter { $0.from == b.address.raw }.count
            #expect(try await ledger.balance(b.address).totalSpent == Amount(UInt128(sent)), "payer \(b.address.raw) was not debited once per authorization")
        }
        let report = try await ledger.checkInvariants()
        #expect(report.isConsistent, "\(report)")
    }

    @Test func sigkillOfOneReplicaUnderLoadLosesNothingAcknowledged() async throws {
        let url = try await PostgresTestDatabase.create()
        let dir = TempDirectory()
        defer { dir.remove(); Task { await PostgresTestDatabase.drop(url) } }
        let a = try await DaemonProcessTests.start(dataDir: dir.path + "/a", environment: Self.environment(url))
        defer { if a.process.isRunning { a.process.terminate(); a.process.waitUntilExit() } }
        let b = try await DaemonProcessTests.start(dataDir: dir.path + "/b", environment: Self.environment(url))
        defer { if b.process.isRunning { kill(b.process.processIdentifier, SIGKILL); b.process.waitUntilExit() } }
        let clientA = ServiceClient(baseURL: a.url, operatorToken: Self.token, timeoutSeconds: 10)
        let clientB = ServiceClient(baseURL: b.url, operatorToken: Self.token, timeoutSeconds: 10)
        // One identity for the cluster: both replicas attest the same key.
        let keyA = CrashTests.json(try await clientA.send(.GET, "/health"))["enclavePublicKey"] as? String
        let keyB = CrashTests.json(try await clientB.send(.GET, "/health"))["enclavePublicKey"] as? String
        #expect(keyA != nil && keyA == keyB)

        let workers = (0..<6).map { Buyer(index: 900 + $0) }
        for (i, w) in workers.enumerated() { try await CrashTests.deposit(i % 2 == 0 ? clientA : clientB, w, "1000000000", "fund-\(i)") }
        let load = Load()
        let servedByA = Atomic<Int>(0)
        await withTaskGroup(of: Void.self) { group in
            for (i, w) in workers.enumerated() { group.addTask { await Self.work(i % 2 == 0 ? clientA : clientB, w, load) } }
            // Under load, whatever the machine's speed: some payments acknowledged first, then the
            // kill at a random moment.
            let deadline = ContinuousClock.now + .seconds(30)
            while load.acknowledged.withLock({ $0.count }) < 30 && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            try? await Task.sleep(for: .milliseconds(Int.random(in: 0...300)))
            kill(b.process.processIdentifier, SIGKILL)
            let before = load.acknowledged.withLock { $0.count }
            // The other replica keeps serving.
            try? await Task.sleep(for: .milliseconds(500))
            servedByA.store(load.acknowledged.withLock { $0.count } - before, ordering: .relaxed)
            load.stopped.store(true, ordering: .relaxed)
            await group.waitForAll()
        }
        b.process.waitUntilExit()
        #expect(b.process.terminationReason == .uncaughtSignal)
        #expect(servedByA.load(ordering: .relaxed) > 0, "replica A stopped serving when B died")
        #expect(load.acknowledged.withLock { $0.count } > 20, "the load barely ran")
        try await Self.checkAfterwards(url, survivor: clientA, workers: workers, load: load)
    }

    /// PostgreSQL stopped for two seconds under load on both replicas: nothing is answered but
    /// 200 or 503 storage_unavailable, /health says so, and both replicas resume by themselves.
    @Test func aPostgresRestartUnderLoadIsSurvivedWithoutRestartingReplicas() async throws {
        let clusterDir = TempDirectory()
        let pg = clusterDir.path + "/pg"
        let started = try PostgresTestDatabase.cluster("start", pg)
        try #require(started.status == 0, "\(started.output)")
        defer { _ = try? PostgresTestDatabase.cluster("stop", pg); clusterDir.remove() }
        let url = try DatabaseURL(parsing: started.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last.map(String.init) ?? "")
        let dir = TempDirectory(); defer { dir.remove() }
        let replicas = [try await DaemonProcessTests.start(dataDir: dir.path + "/a", environment: Self.environment(url)),
                        try await DaemonProcessTests.start(dataDir: dir.path + "/b", environment: Self.environment(url))]
        defer { for r in replicas where r.process.isRunning { r.process.terminate(); r.process.waitUntilExit() } }
        let clients = replicas.map { ServiceClient(baseURL: $0.url, operatorToken: Self.token, timeoutSeconds: 15) }
        let workers = (0..<4).map { Buyer(index: 920 + $0) }
        for (i, w) in workers.enumerated() { try await CrashTests.deposit(clients[i % 2], w, "1000000000", "fund-\(i)") }

        let load = Load()
        let healthDuringOutage = Locked<[Int]>([])
        let afterResume = Locked<Int>(0)
        await withTaskGroup(of: Void.self) { group in
            for (i, w) in workers.enumerated() { group.addTask { await Self.work(clients[i % 2], w, load) } }
            try? await Task.sleep(for: .milliseconds(400))
            _ = try? PostgresTestDatabase.cluster("pause", pg)
            try? await Task.sleep(for: .milliseconds(2_000))
            for c in clients { healthDuringOutage.withLock { $0.append(0) }; if let h = try? await c.send(.GET, "/health") { healthDuringOutage.withLock { $0[$0.count - 1] = h.status } } }
            _ = try? PostgresTestDatabase.cluster("resume", pg)
            let resumedAt = load.acknowledged.withLock { $0.count }
            try? await Task.sleep(for: .milliseconds(2_500))
            afterResume.withLock { $0 = load.acknowledged.withLock { $0.count } - resumedAt }
            load.stopped.store(true, ordering: .relaxed)
            await group.waitForAll()
        }
        #expect(healthDuringOutage.withLock { $0 } == [503, 503], "/health during the outage: \(healthDuringOutage.withLock { $0 })")
        #expect(afterResume.withLock { $0 } > 0, "no payment went through after the database returned")
        let refusals = load.refusals.withLock { $0 }
        #expect(refusals.keys.allSatisfy { $0 == "503 storage_unavailable" }, "answers other than 200 and 503 storage_unavailable: \(refusals)")
        for c in clients {
            let health = try await c.send(.GET, "/health")
            #expect(health.status == 200, "a replica did not resume: \(health.text)")
        }
        try await Self.checkAfterwards(url, survivor: clients[1], workers: workers, load: load)
    }
}
