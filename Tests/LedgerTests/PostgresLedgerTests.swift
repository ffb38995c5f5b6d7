import Enclave
import Foundation
import NanoPayCore
import NanoPayService
import NanoPayTestSupport
@testable import PostgresLedger
import Testing

/// What only the PostgreSQL engine has: migrations shared by replicas, the cluster identity, and
/// two engines (replicas) on one database keeping the ledger's guarantees between them. The
/// semantics both engines share are in the suites parameterized over `LedgerEngine`.
@Suite struct PostgresLedgerTests {
    @Test func migrationsMatchTheFilesAndSplitIntoStatements() throws {
        let root = TestBinaries.repositoryRoot
        let folder = root.path + "/migrations/postgres"
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.count == PostgresMigrations.embedded.count)
        for (file, migration) in zip(files, PostgresMigrations.embedded.sorted { $0.version < $1.version }) {
            let sql = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
            #expect(sql.trimmingCharacters(in: .whitespacesAndNewlines) == migration.sql.trimmingCharacters(in: .whitespacesAndNewlines),
                    "\(file) differs from the embedded copy: run scripts/embed-migrations.sh")
        }
        let statements = PostgresMigrations.statements("""
            -- a comment; with a semicolon
            CREATE TABLE a (x text DEFAULT 'a;b');
            CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;
            SELECT 1
            """)
        #expect(statements.count == 3)
        #expect(statements[1].hasSuffix("END $$"))
    }

    @Test func replicasStartingTogetherMigrateOnceAndANewerSchemaIsRefused() async throws {
        let url = try await PostgresTestDatabase.create()
        defer { Task { await PostgresTestDatabase.drop(url) } }
        let clock = ManualClock(milliseconds: Fixture.startMilliseconds)
        let ledgers = try await withThrowingTaskGroup(of: PostgresLedger.self) { group in
            for _ in 0..<4 { group.addTask { try await PostgresLedger.open(.forTests(url, clock: clock)) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(ledgers.count == 4)
        for ledger in ledgers { ledger.close() }
        let applied = try await DatabaseAdmin.withConnection(url) { connection in
            var versions: [Int64] = []
            for try await v in try await connection.query("SELECT version FROM schema_migrations ORDER BY version", logger: DatabaseAdmin.logger)
                .decode(Int64.self) { versions.append(v) }
            try await connection.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from_the_future', 0)",
                                       logger: DatabaseAdmin.logger)
            return versions
        }
        #expect(applied == PostgresMigrations.embedded.map { Int64($0.version) }.sorted())
        await #expect {
            _ = try await PostgresLedger.open(.forTests(url, clock: clock))
        } throws: { error in
            (error as? NanoPayError)?.message.contains("newer than this nanopayd knows") == true
        }
    }

    /// The settings that keep a group commit from being planned per batch (migration 0004). A
    /// later migration that redefines np_record with CREATE OR REPLACE drops them silently, and
    /// nothing else would notice: only the benchmark would get slower.
    @Test func theGroupCommitIsPlannedOncePerSessionAndNeverCompiled() async throws {
        let url = try await PostgresTestDatabase.create()
        defer { Task { await PostgresTestDatabase.drop(url) } }
        let ledger = try await PostgresLedger.open(.forTests(url, clock: ManualClock(milliseconds: Fixture.startMilliseconds)))
        defer { ledger.close() }
        let (settings, volatility) = try await DatabaseAdmin.withConnection(url) { connection in
            var settings: [String] = []
            // By the signature nanopayd calls: a redefinition with other parameters would be a
            // second function, without the settings, beside the old one that keeps them.
            let overloads = try await connection.query("SELECT count(*) FROM pg_proc WHERE proname = 'np_record'", logger: DatabaseAdmin.logger)
            for try await n in overloads.decode(Int64.self) { #expect(n == 1) }
            for try await s in try await connection.query("""
                SELECT unnest(proconfig) FROM pg_proc
                 WHERE oid = 'np_record(bigint, text, bigint[], text[], text[], bytea[], text[], numeric[], bigint[], bytea[], bytea[],
                                        text[], text[], text[], bigint[], bigint[], bigint[], bytea[])'::regprocedure
                """, logger: DatabaseAdmin.logger).decode(String.self) { settings.append(s) }
            var volatility: [String: String] = [:]
            for try await (name, v) in try await connection.query("""
                SELECT proname::text, provolatile::text FROM pg_proc
                 WHERE proname IN ('np_confirmation_id', 'np_approval_id', 'np_reservation_id')
                """, logger: DatabaseAdmin.logger).decode((String, String).self) { volatility[name] = v }
            return (settings, volatility)
        }
        #expect(Set(settings) == ["plan_cache_mode=force_generic_plan", "enable_seqscan=off", "jit=off"])
        // STABLE ('s'), as their body is, so the planner inlines them instead of running a nested query per row.
        #expect(volatility == ["np_confirmation_id": "s", "np_approval_id": "s", "np_reservation_id": "s"])
        let logger = ledger.logger
        let jit = try await ledger.withConnection { connection in
            var value = ""
            for try await v in try await connection.send("SHOW jit", logger: logger).decode(String.self) { value = v }
            return value
        }
        #expect(jit == "off")
    }

    @Test func databaseURLsParseAndNeverPrintThePassword() throws {
        let url = try DatabaseURL(parsing: "postgres://nano%40pay:s3cr%2Ft@db.internal:6543/ledger")
        #expect(url == DatabaseURL(host: "db.internal", port: 6543, user: "nano@pay", password: "s3cr/t", database: "ledger"))
        #expect(!url.redacted.contains("s3cr") && url.redacted.contains("***"))
        #expect(try DatabaseURL(parsing: "postgresql://u@h/d").port == 5432)
        // Across a network the server must be authenticated: TLS with verification by default.
        #expect(url.tls == .verifyFull(rootCertificatePath: nil))
        #expect(try DatabaseURL(parsing: "postgres://u@127.0.0.1:5432/d").tls == .disable)
        #expect(try DatabaseURL(parsing: "postgres://u@db/d?sslmode=verify-full&sslrootcert=/etc/ca.pem").tls == .verifyFull(rootCertificatePath: "/etc/ca.pem"))
        let plain = try DatabaseURL(parsing: "postgres://u:p@db/d?sslmode=disable")
        let reparsed = try DatabaseURL(parsing: plain.text)
        #expect(plain.tls == .disable && plain.redacted.hasSuffix("?sslmode=disable") && reparsed == plain)
        for bad in ["mysql://u@h/d", "postgres://h/d", "postgres://u@/d", "postgres://u@h", "postgres://u@h/", "postgres://u@h/d?sslmode=require",
                    "postgres://u@h/d?sslmode=x", "postgres://u@h/d?sslmode=disable&sslrootcert=/ca", "postgres://u@h/d?application_name=x", "nonsense"] {
            #expect(throws: DatabaseURL.ParseError.self, "\(bad)") { try DatabaseURL(parsing: bad) }
        }
    }

    /// TLS with the server verified: a server whose certificate chains to the given root is
    /// used (and the session is encrypted); the same server under another root is refused.
    @Test func tlsConnectionsVerifyTheServer() async throws {
        let dir = TempDirectory()
        let pg = dir.path + "/pg"
        let started = try PostgresTestDatabase.cluster("start-tls", pg)
        try #require(started.status == 0, "\(started.output)")
        defer { _ = try? PostgresTestDatabase.cluster("stop", pg); dir.remove() }
        var url = try PostgresTestDatabase.url(fromClusterOutput: started.output)
        #expect(url.tls == .disable, "loopback defaults to plain TCP")
        url.tls = .verifyFull(rootCertificatePath: pg + "/ca.pem")
        let clock = ManualClock(milliseconds: Fixture.startMilliseconds)
        let ledger = try await PostgresLedger.open(.forTests(url, clock: clock))
        let buyer = Buyer(index: 640)
        #expect(try await ledger.deposit(address: buyer.address, amount: 5, publicKey: buyer.keys.publicKey, reference: "tls").available == 5)
        ledger.close()
        let encrypted = try await DatabaseAdmin.withConnection(url) { connection in
            var ssl = false
            for try await on in try await connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: DatabaseAdmin.logger)
                .decode(Bool.self) { ssl = on }
            return ssl
        }
        #expect(encrypted)
        var untrusted = url
        untrusted.tls = .verifyFull(rootCertificatePath: nil)
        await #expect(throws: (any Error).self) {
            _ = try await PostgresLedger.open(.init(url: untrusted, clock: clock, startupTimeoutMilliseconds: 3_000))
        }
    }

    /// The first replica's sealed identity is the cluster's; the same secret opens it on every
    /// replica, another secret is refused and makes no second identity.
    @Test func oneEnclaveIdentityForTheCluster() async throws {
        let f = try await Fixture.make(.postgres); defer { f.close() }
        let replica = try await Replica(of: f); defer { replica.close() }
        let postgres = try #require(f.store as? PostgresLedger)
        let secret = try PlatformSecret(bytes: [UInt8](repeating: 9, count: 32))
        let first = Enclave.sealNewIdentity(secret: secret)
        #expect(try await postgres.clusterIdentity(storingIfAbsent: first) == first)
        let stored = try await replica.store.clusterIdentity(storingIfAbsent: Enclave.sealNewIdentity(secret: secret))
        #expect(stored == first, "a later replica gets the stored identity, not its own offer")
        func enclave(_ secret: PlatformSecret, _ name: String) throws -> Enclave {
            var c = Enclave.Configuration(directory: f.directory.path + "/" + name, secret: secret, clock: f.clock)
            c.sealedIdentity = stored
            return try Enclave(c)
        }
        let a = try enclave(try PlatformSecret(bytes: [UInt8](repeating: 9, count: 32)), "a")
        let b = try enclave(try PlatformSecret(bytes: [UInt8](repeating: 9, count: 32)), "b")
        #expect(a.publicKey == b.publicKey)
        #expect(throws: EnclaveError.self) { _ = try enclave(try PlatformSecret(bytes: [UInt8](repeating: 8, count: 32)), "c") }
        #expect(!FileManager.default.fileExists(atPath: f.directory.path + "/c/identity.sealed"), "no identity of its own was made")
        // A ledger with data whose identity row is gone gets no new identity.
        try await f.fund(Buyer(index: 641), 10)
        try await DatabaseAdmin.withConnection(try #require(f.databaseURL)) { connection in
            try await connection.query("DELETE FROM cluster_identity", logger: DatabaseAdmin.logger)
        }
        await #expect(throws: NanoPayError.self) { _ = try await replica.store.clusterIdentity(storingIfAbsent: Enclave.sealNewIdentity(secret: secret)) }
    }

    /// 64 concurrent submissions of one authorization, spread over two replicas: one debit, one
    /// fresh receipt, 63 replays of it.
    @Test func oneAuthorizationSubmittedToBothReplicasPaysOnce() async throws {
        let f = try await Fixture.make(.postgres); defer { f.close() }
        let replica = try await Replica(of: f); defer { replica.close() }
        let buyer = Buyer(index: 600)
        try await f.fund(buyer, 1_000)
        let fields = f.authorization(buyer, amount: 70, version: .v2)
        let services = [f.service, replica.service]
        let outcomes = await withTaskGroup(of: Result<PaymentOutcome, NanoPayError>.self) { group in
            for i in 0..<64 {
                group.addTask { do { return .success(try await services[i % 2].verify(fields)) } catch { return .failure(NanoPayError.wrap(error)) } }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        var fresh = 0, replayed = 0
        var receipts = Set<String>()
        for outcome in outcomes {
            guard case .success(.settled(let receipt, let isReplay)) = outcome else { Issue.record("\(outcome)"); continue }
            if isReplay { replayed += 1 } else { fresh += 1 }
            receipts.insert(receipt.confirmationId)
        }
        #expect(fresh == 1 && replayed == 63 && receipts.count == 1)
        #expect(try await replica.store.balance(buyer.address).available == 930)
        #expect(try await f.checkInvariants().isConsistent)
    }

    /// Many payments from one payer, on both replicas at once, never take it below zero.
    @Test func concurrentSpendingOnBothReplicasNeverOverdraws() async throws {
        let f = try await Fixture.make(.postgres); defer { f.close() }
        let replica = try await Replica(of: f); defer { replica.close() }
        let buyer = Buyer(index: 601)
        try await f.fund(buyer, 1_000)
        let services = [f.service, replica.service]
        let authorizations = (0..<40).map { _ in f.authorization(buyer, to: sellerAddress(7), amount: 60, version: .v2) }
        let settled = await withTaskGroup(of: Bool.self) { group in
            for (i, fields) in authorizations.enumerated() {
                group.addTask { (try? await services[i % 2].verify(fields)).map { if case .settled = $0 { true } else { false } } ?? false }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(settled == 16, "1000 / 60 = 16 payments fit")
        let b = try await replica.store.balance(buyer.address)
        #expect(b.available == 40 && b.totalSpent == 960)
        #expect(try await f.store.balance(sellerAddress(7)).available == 960)
        #expect(try await f.checkInvariants().isConsistent)
    }

    /// Two accounts paying each other at once through two replicas, while both pay a popular
    /// keyless seller: every payment settles and PostgreSQL meets no deadlock (accounts with a
    /// key are locked by address, keyless payees last; migration 0003).
    @Test func accountsPayingEachOtherOnTwoReplicasNeverDeadlock() async throws {
        let f = try await Fixture.make(.postgres); defer { f.close() }
        let replica = try await Replica(of: f); defer { replica.close() }
        let x = Buyer(index: 608), y = Buyer(index: 609)
        try await f.fund(x, 1_000)
        try await f.fund(y, 1_000)
        let services = [f.service, replica.service]
        let payments = (0..<64).map { i in
            switch i % 4 {
            case 0: f.authorization(x, to: y.address, amount: 3, version: .v2)
            case 1: f.authorization(y, to: x.address, amount: 5, version: .v2)
            case 2: f.authorization(x, to: sellerAddress(9), amount: 1, version: .v2)
            default: f.authorization(y, to: sellerAddress(9), amount: 1, version: .v2)
            }
        }
        let settled = await withTaskGroup(of: Bool.self) { group in
            for (i, fields) in payments.enumerated() {
                // x's payments through one replica, y's through the other: a batch pays one way only.
                group.addTask { (try? await services[i % 2].verify(fields)).map { if case .settled = $0 { true } else { false } } ?? false }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(settled == 64)
        // x: 1,000 - 16 x 3 (to y) + 16 x 5 (from y) - 16 (to the seller); y the other way round.
        #expect(try await f.store.balance(x.address).available == 1_016)
        #expect(try await f.store.balance(y.address).available == 952)
        #expect(try await f.store.balance(sellerAddress(9)).available == 32)
        #expect(try await f.checkInvariants().isConsistent)
        // PostgreSQL's own count of deadlocks in this database (its statistics reach the view
        // within a second of the transaction's end).
        try await Task.sleep(for: .milliseconds(1_500))
        let deadlocks = try await DatabaseAdmin.withConnection(try #require(f.databaseURL)) { connection in
            var n: Int64 = -1
            for try await d in try await connection.query("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
                                                          logger: DatabaseAdmin.logger).decode(Int64.self) { n = d }
            return n
        }
        #expect(deadlocks == 0)
    }

    /// A batch that waited (for a lock, or for the database to come back) must not pay an
    /// authorization that expired meanwhile: the engine checks validBefore again when it commits,
    /// in the set-based path and in the per-payment loop. (The embedded engine commits as the
    /// service checks, so only this engine needs it.)
    @Test func anAuthorizationThatExpiredWhileItsBatchWaitedPaysNothing() async throws {
        try await LedgerStoreContractTests.withStore("postgres") { store, clock in
            let buyer = Buyer(index: 610), capped = Buyer(index: 611)
            for b in [buyer, capped] {
                _ = try await store.deposit(address: b.address, amount: 100, publicKey: b.keys.publicKey, reference: "exp-\(b.address.raw)")
            }
            // A payer with a policy takes the per-payment loop; the other, the set-based path.
            _ = try await store.setPolicy(address: capped.address, update: PolicyUpdate(maxAmount: .set(50)), authority: .operator("t"))
            let plain = LedgerStoreContractTests.request(buyer, amount: 5, clock: clock)
            let looped = LedgerStoreContractTests.request(capped, amount: 5, clock: clock)
            clock.advance(seconds: 300)
            await expectError(.expired) { _ = try await store.recordPayment(plain, holdTimeoutSeconds: 60) }
            await expectError(.expired) { _ = try await store.recordPayment(looped, holdTimeoutSeconds: 60) }
            #expect(try await store.balance(buyer.address).available == 100)
            #expect(try await store.balance(capped.address).available == 100)
        }
    }

    /// A hold made on one replica is decided on the other, exactly once even when both decide at
    /// the same time; the funds it reserved are never spendable meanwhile.
    @Test func aHoldMadeOnOneReplicaIsDecidedOnceOnTheOther() async throws {
        let f = try await Fixture.make(.postgres); defer { f.close() }
        let replica = try await Replica(of: f); defer { replica.close() }
        let buyer = Buyer(index: 602)
        try await f.fund(buyer, 100)
        _ = try await f.store.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(10)), authority: .operator("t"))
        guard case .held(let id, _) = try await f.service.verify(f.authorization(buyer, amount: 80, version: .v2)) else {
            Issue.record("not held"); return
        }
        await expectError(.insufficientBalance) { _ = try await replica.service.verify(f.authorization(buyer, amount: 30, version: .v2)) }
        let decisions = await withTaskGroup(of: (approve: Bool, decision: PaymentService.HoldDecision?).self) { group in
            for i in 0..<8 {
                let service = i % 2 == 0 ? f.service : replica.service
                let approve = i % 4 < 2
                group.addTask { (approve, try? await service.decide(approvalId: id, approve: approve, by: "op\(i)", reason: nil)) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        var wins: [Bool] = []
        for (approve, decision) in decisions {
            switch decision {
            case .decided?: wins.append(approve)
            case .alreadyResolved(let e)?: #expect([ErrorCode.alreadyApproved, .alreadyRejected].contains(e.code))
            case nil: Issue.record("a decision failed")
            }
        }
        #expect(wins.count == 1, "\(decisions)")
        let b = try await f.store.balance(buyer.address)
        #expect(b.held == 0 && b.available == (wins.first == true ? 20 : 100))
        #expect(try await f.checkInvariants().isConsistent)
    }

    /// A rate limit counts every replica's payments.
    @Test func aRateLimitIsSharedByTheReplicas() async throws {
        let f = try await Fixture.make(.postgres); defer { f.close() }
        let replica = try await Replica(of: f); defer { replica.close() }
        let buyer = Buyer(index: 603)
        try await f.fund(buyer, 1_000)
        _ = try await f.store.setPolicy(address: buyer.address, update: PolicyUpdate(rateLimit: .set(3)), authority: .operator("t"))
        for i in 0..<3 {
            let service = i % 2 == 0 ? f.service : replica.service
            guard case .settled = try await service.verify(f.authorization(buyer, amount: 1, version: .v2)) else { Issue.record("refused \(i)"); return }
        }
        await expectError(.rateLimited) { _ = try await replica.service.verify(f.authorization(buyer, amount: 1, version: .v2)) }
        await expectError(.rateLimited) { _ = try await f.service.verify(f.authorization(buyer, amount: 1, version: .v2)) }
        f.clock.advance(seconds: 20)
        guard case .settled = try await replica.service.verify(f.authorization(buyer, amount: 1, version: .v2)) else {
            Issue.record("not allowed after the interval"); return
        }
    }

    /// Both replicas sweep at once: every due hold expires exactly once.
    @Test func sweepsOnBothReplicasExpireEachHoldOnce() async throws {
        let f = try await Fixture.make(.postgres); defer { f.close() }
        let replica = try await Replica(of: f); defer { replica.close() }
        let buyers = (0..<12).map { Buyer(index: 610 + $0) }
        for buyer in buyers {
            try await f.fund(buyer, 100)
            _ = try await f.store.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(1)), authority: .operator("t"))
            for _ in 0..<3 {
                guard case .held = try await f.service.verify(f.authorization(buyer, amount: 10, version: .v2)) else { Issue.record("not held"); return }
            }
        }
        f.clock.advance(seconds: f.configuration.approvalTimeoutSeconds + 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<6 { group.addTask { try await (i % 2 == 0 ? f.store : replica.store).sweepExpiredHolds() } }
            try await group.waitForAll()
        }
        #expect(try await replica.store.approvals(status: .expired, limit: 100).count == 36)
        for buyer in buyers {
            let b = try await f.store.balance(buyer.address)
            #expect(b.held == 0 && b.available == 100)
        }
        #expect(try await f.checkInvariants().isConsistent)
        try await (f.store as! PostgresLedger).refreshTotals()
        #expect(f.store.totals.paymentsExpired == 36 && f.store.totals.paymentsHeld == 0)
    }

    /// A key rotated through one replica is used at once through the other (whose cache held
    /// the old key): the service reads the key again before refusing a signature.
    @Test func aKeyRotatedOnOneReplicaPaysAtOnceOnTheOther() async throws {
        let f = try await Fixture.make(.postgres); defer { f.close() }
        let replica = try await Replica(of: f); defer { replica.close() }
        let buyer = Buyer(index: 604), next = Buyer(index: 605)
        try await f.fund(buyer, 100)
        guard case .settled = try await replica.service.verify(f.authorization(buyer, amount: 1, version: .v2)) else { return }
        try await f.store.rotateKey(address: buyer.address, publicKey: next.keys.publicKey)
        let auth = PaymentAuthorization.sign(keyPair: next.keys, from: buyer.address, to: sellerAddress(), amount: 2,
                                             validBefore: f.nowSeconds + 300, nonce: Sodium.randomBytes(32), version: .v2, domain: f.service.domain)
        guard case .settled = try await replica.service.verify(AuthorizationFields(auth)) else { Issue.record("not settled"); return }
        await expectError(.invalidSignature) { _ = try await replica.service.verify(f.authorization(buyer, amount: 1, version: .v2)) }
    }

    /// The attack a long key cache invites: the payer rotates away from a stolen key through one
    /// replica, and the thief signs with the old key through another replica whose cache still
    /// holds it. The signature verifies there, but the ledger compares the key under the payer's
    /// lock and refuses; nothing moves.
    @Test func anOldKeyStillCachedOnAReplicaPaysNothing() async throws {
        let f = try await Fixture.make(.postgres); defer { f.close() }
        let replica = try await Replica(of: f); defer { replica.close() }
        let buyer = Buyer(index: 606), next = Buyer(index: 607)
        try await f.fund(buyer, 100)
        guard case .settled = try await replica.service.verify(f.authorization(buyer, amount: 1, version: .v2)) else { return }
        try await f.store.rotateKey(address: buyer.address, publicKey: next.keys.publicKey)
        for _ in 0..<3 {
            await expectError(.invalidSignature) { _ = try await replica.service.verify(f.authorization(buyer, amount: 1, version: .v2)) }
        }
        #expect(try await f.store.balance(buyer.address).available == 99)
        #expect(try await f.checkInvariants().isConsistent)
    }
}

extension PostgresLedgerTests {
    static func counterRows(_ url: DatabaseURL) async throws -> Int64 {
        try await DatabaseAdmin.withConnection(url) { connection in
            var n: Int64 = -1
            for try await c in try await connection.query("SELECT count(*) FROM totals", logger: DatabaseAdmin.logger).decode(Int64.self) { n = c }
            return n
        }
    }

    /// Every start folds the counter rows of earlier writers into its own (migration 0005): the
    /// counters keep their sums, `totals` (summed by every group commit) stops growing by a row
    /// per process start, and a replica still running whose row was folded away keeps counting,
    /// including a hold it resolves (np_resolve_hold's counts).
    @Test func eachStartFoldsTheCountersOfEarlierWriters() async throws {
        let f = try await Fixture.make(.postgres); defer { f.close() }
        let url = try #require(f.databaseURL)
        let buyer = Buyer(index: 640)
        try await f.fund(buyer, 1_000)
        let store = f.store as! PostgresLedger
        try await store.refreshTotals()
        let before = store.totals
        for _ in 0..<3 {
            guard case .settled = try await f.service.verify(f.authorization(buyer, amount: 1, version: .v2)) else { Issue.record("refused"); return }
        }
        _ = try await f.store.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(10)), authority: .operator("t"))
        guard case .held(let holdId, _) = try await f.service.verify(f.authorization(buyer, amount: 50, version: .v2)) else {
            Issue.record("not held"); return
        }
        // Five replicas start and stop one after the other, each paying once.
        for _ in 0..<5 {
            let replica = try await Replica(of: f)
            guard case .settled = try await replica.service.verify(f.authorization(buyer, amount: 2, version: .v2)) else { Issue.record("refused") ; return }
            replica.close()
        }
        #expect(try await Self.counterRows(url) == 1)
        // The first replica still runs; its row was folded by the later starts.
        guard case .decided = try await f.service.decide(approvalId: holdId, approve: true, by: "op", reason: nil) else {
            Issue.record("not decided"); return
        }
        let last = try await Replica(of: f); defer { last.close() }
        #expect(try await Self.counterRows(url) == 1)
        try await last.store.refreshTotals()
        let after = last.store.totals
        #expect(after.paymentsSettled == before.paymentsSettled + 8)
        #expect(after.paymentsApproved == before.paymentsApproved + 1 && after.paymentsHeld == before.paymentsHeld)
        #expect(after.volume == Amount(before.volume.value + 3 + 10 + 50))
        #expect(after.deposited == before.deposited && after.accounts == before.accounts + 1)
        #expect(try await f.checkInvariants().isConsistent)
    }

    /// Replicas start (and fold) while another pays and resolves holds: no count is lost, since
    /// each write to `totals` is one upsert that waits for a fold's delete and then inserts.
    @Test func foldsWhileAnotherReplicaWritesLoseNoCount() async throws {
        let f = try await Fixture.make(.postgres); defer { f.close() }
        let url = try #require(f.databaseURL)
        let buyers = (0..<4).map { Buyer(index: 650 + $0) }
        for buyer in buyers {
            try await f.fund(buyer, 1_000)
            _ = try await f.store.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(10)), authority: .operator("t"))
        }
        var holds: [String] = []
        for buyer in buyers {
            for _ in 0..<4 {
                guard case .held(let id, _) = try await f.service.verify(f.authorization(buyer, amount: 20, version: .v2)) else {
                    Issue.record("not held"); return
                }
                holds.append(id)
            }
        }
        let store = f.store as! PostgresLedger
        try await store.refreshTotals()
        let before = store.totals
        let holdIds = holds
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for _ in 0..<6 { try await Replica(of: f).close() }
            }
            group.addTask {
                for (i, id) in holdIds.enumerated() {
                    guard case .decided = try await f.service.decide(approvalId: id, approve: i % 2 == 0, by: "op", reason: nil) else {
                        Issue.record("hold \(id) not decided"); return
                    }
                }
            }
            for buyer in buyers {
                group.addTask {
                    for _ in 0..<10 {
                        guard case .settled = try await f.service.verify(f.authorization(buyer, amount: 1, version: .v2)) else {
                            Issue.record("refused"); return
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let last = try await Replica(of: f); defer { last.close() }
        #expect(try await Self.counterRows(url) == 1, "the last start folded every earlier row")
        try await last.store.refreshTotals()
        let after = last.store.totals
        #expect(after.paymentsSettled == before.paymentsSettled + 40)
        #expect(after.paymentsApproved == before.paymentsApproved + 8 && after.paymentsRejected == before.paymentsRejected + 8)
        #expect(after.paymentsHeld == before.paymentsHeld - 16)
        #expect(after.volume == Amount(before.volume.value + 40 + 8 * 20))
        #expect(try await f.checkInvariants().isConsistent)
    }

    /// A fold never waits for a row being written (it could close a lock cycle through a batch
    /// that locks accounts after writing its row): the held row stays, the others are folded,
    /// and a later start folds the rest.
    @Test func aFoldSkipsARowBeingWritten() async throws {
        let f = try await Fixture.make(.postgres); defer { f.close() }
        let url = try #require(f.databaseURL)
        let buyer = Buyer(index: 660)
        try await f.fund(buyer, 100)
        let busy = try await Replica(of: f); defer { busy.close() }
        guard case .settled = try await busy.service.verify(f.authorization(buyer, amount: 1, version: .v2)) else { Issue.record("refused"); return }
        guard case .settled = try await f.service.verify(f.authorization(buyer, amount: 1, version: .v2)) else { Issue.record("refused"); return }
        #expect(try await Self.counterRows(url) == 2)
        let busyWriter = busy.store.writerId
        try await DatabaseAdmin.withConnection(url) { connection in
            try await connection.query("BEGIN", logger: DatabaseAdmin.logger)
            try await connection.query("UPDATE totals SET accounts = accounts WHERE writer = \(busyWriter)", logger: DatabaseAdmin.logger)
            let started = ContinuousClock.now
            let next = try await Replica(of: f)
            next.close()
            #expect(ContinuousClock.now - started < .seconds(3), "the fold waited for the held row")
            var writers: Set<String> = []
            for try await w in try await connection.query("SELECT writer FROM totals", logger: DatabaseAdmin.logger).decode(String.self) {
                writers.insert(w)
            }
            #expect(writers == [busyWriter, next.store.writerId], "the held row stays, the others are folded into the new writer's")
            try await connection.query("COMMIT", logger: DatabaseAdmin.logger)
        }
        let last = try await Replica(of: f); defer { last.close() }
        #expect(try await Self.counterRows(url) == 1)
        try await last.store.refreshTotals()
        #expect(last.store.totals.paymentsSettled >= 2)
    }

    /// `totals` as a batch publishes it is never overwritten by a refresh that read the table
    /// before the batch committed (the twice-a-second refresh, or one after a deposit): once a
    /// payment is answered, the counters include it.
    @Test func aRefreshNeverHidesABatchJustAnswered() async throws {
        let f = try await Fixture.make(.postgres); defer { f.close() }
        let buyer = Buyer(index: 670)
        try await f.fund(buyer, 10_000)
        let store = f.store as! PostgresLedger
        try await store.refreshTotals()
        var settled = store.totals.paymentsSettled
        let refresher = Task { while !Task.isCancelled { try? await store.refreshTotals() } }
        defer { refresher.cancel() }
        var hidden = 0
        for _ in 0..<300 {
            guard case .settled = try await f.service.verify(f.authorization(buyer, amount: 1, version: .v2)) else { Issue.record("refused"); return }
            settled += 1
            if store.totals.paymentsSettled < settled { hidden += 1 }
        }
        #expect(hidden == 0, "\(hidden) of 300 answered payments were missing from the counters")
    }
}

