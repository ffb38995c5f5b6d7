import Enclave
import Foundation
import Ledger
import NanoPayClient
import NanoPayCore
import NanoPayTestSupport
import Synchronization
import Testing

/// The real `nanopayd` killed with SIGKILL: at random moments under concurrent load, and at each
/// step of a group commit. What was acknowledged must survive; nothing may be half-applied.
@Suite(.serialized) struct CrashTests {
    static let secretHex = DaemonProcessTests.secretHex
    static let cycles = Int(ProcessInfo.processInfo.environment["NANOPAY_CRASH_CYCLES"] ?? "") ?? 20

    /// Opens the data directory the way a restarted nanopayd would (WAL recovery included) while
    /// no process runs on it, and hands the ledger to `body`.
    static func offline<T>(_ data: String, _ body: (Ledger) async throws -> T) async throws -> T {
        _ = try Enclave(.init(directory: data + "/enclave", secret: try PlatformSecret(hex: secretHex), clock: SystemClock()))
        let ledger = try Ledger(.init(path: data + "/ledger.sqlite", clock: SystemClock()))
        defer { ledger.close() }
        return try await body(ledger)
    }

    static func json(_ answer: ServiceClient.Answer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: answer.body)) as? [String: Any] ?? [:]
    }

    /// Sends authorizations through `/verify/batch` and returns each item's (status, body).
    static func verifyBatch(_ client: ServiceClient, _ auths: [AuthorizationFields]) async throws -> [(Int, [String: Any])] {
        var out: [(Int, [String: Any])] = []
        for chunk in stride(from: 0, to: auths.count, by: 256).map({ Array(auths[$0..<min($0 + 256, auths.count)]) }) {
            let body = try JSONEncoder().encode(["authorizations": chunk])
            let answer = try await client.send(.POST, "/verify/batch", json: body)
            guard answer.status == 200, let results = json(answer)["results"] as? [[String: Any]] else {
                throw ClientError("verify/batch answered \(answer.status): \(answer.text.prefix(200))")
            }
            out += results.map { ($0["status"] as? Int ?? 0, $0["body"] as? [String: Any] ?? [:]) }
        }
        return out
    }

    static func deposit(_ client: ServiceClient, _ buyer: Buyer, _ amount: String, _ reference: String) async throws {
        let body = #"{"address":"\#(buyer.address.raw)","amount":"\#(amount)","publicKey":"\#(Hex.encode(buyer.keys.publicKey))","reference":"\#(reference)"}"#
        let answer = try await client.send(.POST, "/deposits", json: Data(body.utf8))
        guard answer.status == 200 else { throw ClientError("deposit answered \(answer.status): \(answer.text)") }
    }

    static func sign(_ buyer: Buyer, amount: UInt128 = 1, nonce: [UInt8] = Sodium.randomBytes(32)) -> AuthorizationFields {
        AuthorizationFields(PaymentAuthorization.sign(keyPair: buyer.keys, from: buyer.address, to: sellerAddress(), amount: Amount(amount),
                                                      validBefore: UInt64(Date().timeIntervalSince1970) + 3_600, nonce: nonce))
    }

    /// What the load saw: payments answered 200 (with their confirmation id) and payments sent
    /// without an answer (the process died first).
    final class LoadRecord: Sendable {
        let acknowledged = Locked<[(AuthorizationFields, String)]>([])
        let unanswered = Locked<[AuthorizationFields]>([])
        let stopped = Atomic<Bool>(false)
    }

    @Test func sigkillUnderLoadLosesNothingAcknowledged() async throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let data = dir.path + "/data"
        let env = ["NANOPAY_PLATFORM_SECRET": Self.secretHex, "NANOPAY_OPERATOR_TOKEN": "t", "NANOPAY_APPROVAL_TIMEOUT_SECONDS": "3600",
                   "NANOPAY_LOG_LEVEL": "warning"]
        let workers = (0..<6).map { Buyer(index: 700 + $0) }
        let holder = Buyer(index: 799)

        // Set-up: funded payers, a policy and a pending hold that every restart must keep.
        var daemon = try await DaemonProcessTests.start(dataDir: data, environment: env)
        var client = ServiceClient(baseURL: daemon.url, operatorToken: "t", timeoutSeconds: 2)
        for (i, b) in (workers + [holder]).enumerated() { try await Self.deposit(client, b, "1000000000", "fund-\(i)") }
        let policy = try await client.send(.POST, "/policy", json: Data(#"{"address":"\#(holder.address.raw)","maxAmount":"100"}"#.utf8))
        #expect(policy.status == 200)
        let held = try await client.send(.POST, "/verify", json: JSONEncoder().encode(Self.sign(holder, amount: 500)))
        let holdId = try #require(Self.json(held)["approvalId"] as? String, "\(held.text)")

        let record = LoadRecord()
        var previouslyAcknowledged: [(AuthorizationFields, String)] = []
        for cycle in 0..<Self.cycles {
            // Concurrent load: five workers on /verify, one on /verify/batch; SIGKILL at a random moment.
            record.stopped.store(false, ordering: .relaxed)
            let c = client
            await withTaskGroup(of: Void.self) { group in
                for (w, buyer) in workers.enumerated() {
                    group.addTask {
                        while !record.stopped.load(ordering: .relaxed) {
                            let auths = (0..<(w == 0 ? 16 : 1)).map { _ in Self.sign(buyer) }
                            do {
                                let results: [(Int, [String: Any])]
                                if w == 0 { results = try await Self.verifyBatch(c, auths) } else {
                                    let a = try await c.send(.POST, "/verify", json: JSONEncoder().encode(auths[0]))
                                    results = [(a.status, Self.json(a))]
                                }
                                for (auth, (status, body)) in zip(auths, results) {
                                    if status == 200, let id = body["confirmationId"] as? String {
                                        record.acknowledged.withLock { $0.append((auth, id)) }
                                    } else {
                                        record.unanswered.withLock { $0.append(auth) }
                                    }
                                }
                            } catch {
                                record.unanswered.withLock { $0 += auths }
                                break
                            }
                        }
                    }
                }
                try? await Task.sleep(for: .milliseconds(Int.random(in: 20...300)))
                kill(daemon.process.processIdentifier, SIGKILL)
                record.stopped.store(true, ordering: .relaxed)
                await group.waitForAll()
            }
            daemon.process.waitUntilExit()
            #expect(daemon.process.terminationReason == .uncaughtSignal, "cycle \(cycle): the process was not killed")

            // Offline, as the restarted process will see it: everything acknowledged is there with
            // its receipt, the books balance, the policy and the hold are intact.
            let acknowledged = record.acknowledged.withLock { $0 }
            try await Self.offline(data) { (ledger: Ledger) async throws -> Void in
                let report = try ledger.checkInvariants()
                #expect(report.isConsistent, "cycle \(cycle): \(report)")
                for (auth, id) in acknowledged {
                    let receipt = try await ledger.settledPayment(confirmationId: id)
                    #expect(receipt.map { Hex.encode($0.nonce) } == auth.nonce, "cycle \(cycle): acknowledged payment \(id) is missing")
                }
                #expect(try await ledger.policy(holder.address)?.maxAmount == Amount(100))
                #expect(try await ledger.approval(id: holdId).0.status == .pending)
                #expect(try await ledger.balance(holder.address).held == Amount(500))
            }

            daemon = try await DaemonProcessTests.start(dataDir: data, environment: env)
            client = ServiceClient(baseURL: daemon.url, operatorToken: "t", timeoutSeconds: 2)
            // Identical resubmissions of what was acknowledged are answered as replays, same receipt.
            let fresh = Array(acknowledged.dropFirst(previouslyAcknowledged.count).suffix(64))
            for ((_, id), (status, body)) in zip(fresh, try await Self.verifyBatch(client, fresh.map(\.0))) {
                #expect(status == 200 && body["replayed"] as? Bool == true && body["confirmationId"] as? String == id,
                        "cycle \(cycle): resubmission of \(id) answered \(status) \(body)")
            }
            previouslyAcknowledged = acknowledged
        }

        // Every authorization ever sent, resubmitted: each is applied exactly once in total.
        let acknowledged = record.acknowledged.withLock { $0 }
        let unanswered = record.unanswered.withLock { $0 }
        #expect(acknowledged.count > Self.cycles, "the load barely ran: \(acknowledged.count) payments acknowledged")
        let all = acknowledged.map(\.0) + unanswered
        let results = try await Self.verifyBatch(client, all)
        #expect(results.allSatisfy { $0.0 == 200 }, "a resubmission failed: \(results.first { $0.0 != 200 }.map { "\($0)" } ?? "")")
        for (i, (_, body)) in results.prefix(acknowledged.count).enumerated() {
            #expect(body["replayed"] as? Bool == true, "acknowledged payment \(i) was applied again")
        }
        kill(daemon.process.processIdentifier, SIGTERM)
        daemon.process.waitUntilExit()
        try await Self.offline(data) { (ledger: Ledger) async throws -> Void in
            for b in workers {
                let sent = all.filter { $0.from == b.address.raw }.count
                #expect(try await ledger.balance(b.address).totalSpent == Amount(UInt128(sent)), "payer \(b.address.raw) was not debited exactly once per authorization")
            }
            #expect(try ledger.checkInvariants().isConsistent)
        }
    }

    /// SIGKILL between each pair of commit steps (assembled, executed, written, fsynced,
    /// answered) while a batch of eight payments commits. After restart the batch is wholly
    /// there or wholly absent, as the step implies.
    @Test(arguments: CommitPoint.allCases)
    func sigkillAtEachCommitPoint(point: CommitPoint) async throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let data = dir.path + "/data"
        let env = ["NANOPAY_PLATFORM_SECRET": Self.secretHex, "NANOPAY_OPERATOR_TOKEN": "t", "NANOPAY_LOG_LEVEL": "warning"]
        let buyers = (0..<8).map { Buyer(index: 800 + $0) }
        var daemon = try await DaemonProcessTests.start(dataDir: data, environment: env)
        var client = ServiceClient(baseURL: daemon.url, operatorToken: "t", timeoutSeconds: 5)
        for (i, b) in buyers.enumerated() { try await Self.deposit(client, b, "1000", "fund-\(i)") }
        kill(daemon.process.processIdentifier, SIGTERM)
        daemon.process.waitUntilExit()

        daemon = try await DaemonProcessTests.start(dataDir: data, environment: env.merging(["NANOPAY_TEST_CRASH_AT": point.rawValue]) { $1 })
        client = ServiceClient(baseURL: daemon.url, operatorToken: "t", timeoutSeconds: 5)
        let auths = buyers.map { Self.sign($0, amount: 10) }
        let answered = try? await Self.verifyBatch(client, auths)
        daemon.process.waitUntilExit()
        #expect(daemon.process.terminationReason == .uncaughtSignal && daemon.process.terminationStatus == SIGKILL,
                "the hook at \(point.rawValue) did not kill the process")
        let escaped = answered != nil
        if point != .answered { #expect(!escaped, "an answer escaped before \(point.rawValue)") }

        let applied = try await Self.offline(data) { ledger in
            #expect(try ledger.checkInvariants().isConsistent)
            var count = 0
            for buyer in buyers where try await ledger.balance(buyer.address).available == Amount(990) { count += 1 }
            return count
        }
        #expect(applied == 0 || applied == buyers.count, "the batch was half-applied (\(applied) of \(buyers.count))")
        switch point {
        case .assembled, .executed: #expect(applied == 0, "nothing was committed at \(point.rawValue)")
        case .fsynced, .answered: #expect(applied == buyers.count, "the batch was durable at \(point.rawValue)")
        case .written: break // in the WAL but not fsynced: a process crash keeps it, a power cut may not
        }

        // Restart without the hook: resubmitting settles each payment exactly once.
        daemon = try await DaemonProcessTests.start(dataDir: data, environment: env)
        client = ServiceClient(baseURL: daemon.url, operatorToken: "t", timeoutSeconds: 5)
        let results = try await Self.verifyBatch(client, auths)
        for (status, body) in results {
            #expect(status == 200 && body["replayed"] as? Bool == (applied == buyers.count))
            #expect(body["remainingBalance"] as? String == "990")
        }
        kill(daemon.process.processIdentifier, SIGTERM)
        daemon.process.waitUntilExit()
    }
}
