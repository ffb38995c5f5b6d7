import Logging
import NanoPayCore
import PostgresNIO
import Synchronization

/// The replicated storage engine (`LedgerStore`): several nanopayd processes share one
/// PostgreSQL database and keep every guarantee of the embedded engine (docs/ARCHITECTURE.md,
/// "PostgreSQL").
///
/// Payments and reservations are group-committed per replica: what arrives while a batch is in
/// the database waits and goes together in the next one, one call of `np_record` (one statement,
/// one round trip, one fsync). The rules run in that function, under row locks taken in address
/// order. Everything else is a short transaction of its own. Every call is bounded in time
/// (`Configuration`); a database that cannot be reached is `storage_unavailable`, never a hang,
/// and the pool reconnects by itself when it returns.
public final class PostgresLedger: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var url: DatabaseURL
        public var clock: any NanoClock
        /// Most payments in one group commit.
        public var batchSizeMax: Int
        /// Most payments waiting for their batch; beyond it requests are refused with `overloaded`.
        public var queueLimit: Int
        /// Pooled connections per replica (the pool never opens more).
        public var connectionsMax: Int
        /// How long opening a connection may take.
        public var connectTimeoutMilliseconds: Int64
        /// The server's `statement_timeout` and `lock_timeout` for this replica's sessions.
        public var statementTimeoutMilliseconds: Int64
        /// The most any one call may take, waiting for a connection included; past it the caller
        /// gets `storage_unavailable` (a write that was still committing is then not acknowledged,
        /// and a resubmission of it is answered as a replay).
        public var operationTimeoutMilliseconds: Int64
        /// How long a health probe, and any call while the database is known to be away, may
        /// take: callers are told `storage_unavailable` quickly instead of waiting out the full
        /// operation timeout.
        public var probeTimeoutMilliseconds: Int64
        /// How long `open` may take: connecting, and migrations, which may wait for another
        /// replica's.
        public var startupTimeoutMilliseconds: Int64
        /// Nonces of authorizations past validBefore plus this grace may be pruned (at least a day).
        public var nonceGraceSeconds: UInt64
        /// How long a payer's key is served from memory. Safety does not depend on it: a stale
        /// key can only make a payment fail, never pass (`np_record` compares the verified key
        /// with the registered one under the payer's lock), and a signature refused against a
        /// cached key is checked again against the key read uncached. It is long because at two
        /// seconds a payer paying less often than that cost a database round trip per payment.
        public var keyCacheMilliseconds: UInt64
        public var logger: Logger

        public init(url: DatabaseURL, clock: any NanoClock, batchSizeMax: Int = 512, queueLimit: Int = 16_384,
                    connectionsMax: Int = 8, connectTimeoutMilliseconds: Int64 = 2_000, statementTimeoutMilliseconds: Int64 = 5_000,
                    operationTimeoutMilliseconds: Int64 = 8_000, probeTimeoutMilliseconds: Int64 = 1_000, nonceGraceSeconds: UInt64 = 86_400 + 3_600,
                    keyCacheMilliseconds: UInt64 = 600_000, startupTimeoutMilliseconds: Int64 = 150_000,
                    logger: Logger = Logger(label: "nanopay.postgres")) {
            self.startupTimeoutMilliseconds = startupTimeoutMilliseconds
            self.url = url; self.clock = clock; self.batchSizeMax = max(batchSizeMax, 1); self.queueLimit = max(queueLimit, batchSizeMax)
            self.connectionsMax = max(connectionsMax, 2); self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
            self.statementTimeoutMilliseconds = statementTimeoutMilliseconds; self.operationTimeoutMilliseconds = operationTimeoutMilliseconds
            self.probeTimeoutMilliseconds = probeTimeoutMilliseconds
            self.nonceGraceSeconds = max(nonceGraceSeconds, 86_400); self.keyCacheMilliseconds = keyCacheMilliseconds
            self.logger = logger
        }
    }

    public let configuration: Configuration
    let client: PostgresClient
    private let runner: Task<Void, Never>
    private var monitor: Task<Void, Never>?
    /// This process's row in `totals` (random per start; earlier writers' rows are folded into it
    /// at start, `foldTotals`).
    let writerId: String
    let logger: Logger
    let queue: PaymentQueue
    let keys: KeyCache
    private let healthy = Atomic<Bool>(true)
    let batchCount = Atomic<Int>(0)
    let batchedOps = Atomic<Int>(0)
    /// The counters as last published, and how many batches have published them (`refreshTotals`
    /// must not overwrite a batch's counters with a read from before its commit).
    private let committedTotals = Locked((totals: LedgerTotals(), batchPublications: UInt64(0)))
    private let closed = Atomic<Bool>(false)

    /// Connects, applies migrations (under an advisory lock) and starts the writer. Fails with
    /// `storage_unavailable` if the database cannot be reached within the connect timeout.
    public static func open(_ configuration: Configuration) async throws -> PostgresLedger {
        let ledger = PostgresLedger(configuration)
        do {
            // Migrations may wait for another replica's: a longer bound than one operation's.
            _ = try await ledger.withConnection(timeoutMilliseconds: configuration.startupTimeoutMilliseconds) { connection in
                try await PostgresMigrations.apply(connection, nowMilliseconds: configuration.clock.nowMilliseconds(), logger: configuration.logger)
            }
            await ledger.foldTotals()
            try await ledger.refreshTotals()
        } catch {
            ledger.close()
            throw error
        }
        ledger.startMonitor()
        return ledger
    }

    private init(_ configuration: Configuration) {
        self.configuration = configuration
        logger = configuration.logger
        var c = PostgresClient.Configuration(host: configuration.url.host, port: configuration.url.port, username: configuration.url.user,
                                             password: configuration.url.password, database: configuration.url.database,
                                             tls: configuration.url.clientTLS)
        c.options.maximumConnections = configuration.connectionsMax
        c.options.minimumConnections = 1
        c.options.connectTimeout = .milliseconds(configuration.connectTimeoutMilliseconds)
        c.options.keepAliveBehavior = .init(frequency: .seconds(10))
        c.options.additionalStartupParameters = [
            ("application_name", "nanopayd"),
            ("statement_timeout", "\(configuration.statementTimeoutMilliseconds)"),
            ("lock_timeout", "\(configuration.statementTimeoutMilliseconds)"),
            ("idle_in_transaction_session_timeout", "\(configuration.statementTimeoutMilliseconds * 2)"),
            // Every statement of nanopayd is short; JIT compiling one costs tens to hundreds of
            // milliseconds (migration 0004).
            ("jit", "off"),
        ]
        let client = PostgresClient(configuration: c, backgroundLogger: Logger(label: "nanopay.postgres.pool", factory: { _ in SwiftLogNoOpLogHandler() }))
        self.client = client
        runner = Task { await client.run() }
        writerId = Hex.encode(Sodium.randomBytes(8))
        keys = KeyCache(lifetimeMilliseconds: configuration.keyCacheMilliseconds)
        queue = PaymentQueue(limit: configuration.queueLimit)
    }

    /// Stops the background work, then the pool once the queued payments are committed and
    /// answered. Does not block the caller: it may be on Swift's cooperative pool, which the
    /// last batch needs to finish.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        monitor?.cancel()
        let queue = self.queue, runner = self.runner
        Task {
            await queue.drained()
            runner.cancel()
        }
    }

    // MARK: Health

    /// Probes the database twice a second with a short timeout, so /health notices an outage
    /// with no traffic and sees the return, and refreshes the counters other replicas move.
    /// (The expiry sweep is the service's, every second, as on the embedded engine.)
    private func startMonitor() {
        monitor = Task { [weak self] in
            var ticks = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                guard let self, !Task.isCancelled else { return }
                ticks += 1
                do {
                    let logger = self.logger
                    try await self.withConnection(timeoutMilliseconds: self.configuration.probeTimeoutMilliseconds) { connection in
                        try await connection.run("SELECT 1", logger: logger)
                    }
                    if ticks % 2 == 0 { try await self.refreshTotals() }
                } catch {}
            }
        }
    }

    var isHealthy: Bool { healthy.load(ordering: .relaxed) }

    func noteOutcome(_ error: NanoPayError?) {
        if let error, error.code == .storageUnavailable {
            if healthy.exchange(false, ordering: .relaxed) { logger.error("PostgreSQL unavailable", metadata: ["reason": "\(error.message)"]) }
        } else if !healthy.exchange(true, ordering: .relaxed) {
            logger.notice("PostgreSQL available again")
        }
    }

    // MARK: Calls

    /// Runs `body` on a pooled connection within the operation timeout; maps every failure to a
    /// `NanoPayError` (`storage_unavailable` when the database cannot be reached or answer).
    func withConnection<T: Sendable>(timeoutMilliseconds: Int64? = nil,
                                     _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws(NanoPayError) -> T {
        let timeout = timeoutMilliseconds ?? (isHealthy ? configuration.operationTimeoutMilliseconds : configuration.probeTimeoutMilliseconds)
        let client = self.client
        do {
            // Not a task group: a group waits for every child, and a query on a connection that
            // died under it may never return (see `PostgresConnection.send`). The caller is
            // answered at the deadline; the work is left to end on its own.
            let value: T = try await withCheckedThrowingContinuation { continuation in
                let answer = FirstAnswer(continuation)
                let deadline = Task {
                    try await Task.sleep(for: .milliseconds(timeout))
                    answer.resume(.failure(NanoPayError(.storageUnavailable, "the database did not answer within \(timeout) ms")))
                }
                Task {
                    do {
                        let value = try await client.withConnection { connection in
                            guard !answer.isAnswered else { throw NanoPayError(.storageUnavailable, "the deadline passed before a connection was free") }
                            return try await body(connection)
                        }
                        answer.resume(.success(value))
                    } catch { answer.resume(.failure(error)) }
                    deadline.cancel()
                }
            }
            noteOutcome(nil)
            return value
        } catch {
            let answer = Self.answer(error)
            if answer.code == .internalError, let server = (error as? PSQLError)?.serverInfo {
                logger.error("PostgreSQL refused an operation", metadata: ["sqlstate": "\(server[.sqlState] ?? "?")", "message": "\(server[.message] ?? "")"])
            }
            noteOutcome(answer)
            throw answer
        }
    }

    /// `withConnection` inside BEGIN … COMMIT (ROLLBACK when `body` throws), retried whole on a
    /// deadlock or serialization failure between replicas.
    func withTransaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws(NanoPayError) -> T {
        let logger = self.logger
        return try await withConnection { connection in
            var attempt = 0
            while true {
                try await connection.run("BEGIN", logger: logger)
                do {
                    let value = try await body(connection)
                    try await connection.run("COMMIT", logger: logger)
                    return value
                } catch {
                    try? await connection.run("ROLLBACK", logger: logger)
                    guard Self.isRetryable(error), attempt < 4 else { throw error }
                    attempt += 1
                    try await Task.sleep(for: .milliseconds(Int64.random(in: 1...(5 << attempt))))
                }
            }
        }
    }

    /// What a caller is told about a database error. Domain refusals raised in SQL (SQLSTATE
    /// NP001) carry their code in DETAIL; anything that means "no answer" is storage_unavailable.
    static func answer(_ error: any Error) -> NanoPayError {
        if let error = error as? NanoPayError { return error }
        if let error = error as? PSQLError {
            guard error.code == .server, let state = error.serverInfo?[.sqlState] else {
                return NanoPayError(.storageUnavailable, "the database is unavailable (\(error.code))")
            }
            let message = error.serverInfo?[.message] ?? "database error"
            switch state {
            case "NP001":
                let code = ErrorCode(rawValue: error.serverInfo?[.detail] ?? "") ?? .internalError
                return NanoPayError(code, message, retryAfterSeconds: UInt64(error.serverInfo?[.hint] ?? ""))
            case "57014", "55P03":
                return NanoPayError(.storageUnavailable, "the database did not answer in time (\(state))")
            case "40001", "40P01", "23505", "40003", "25P03":
                // Contention between replicas that outlasted the retries: transient, retry later.
                return NanoPayError(.storageUnavailable, "the ledger is busy (\(state)); retry shortly", retryAfterSeconds: 1)
            case "23514", "22003":
                return NanoPayError(.amountOverflow, "the change would overflow a 128-bit balance")
            case _ where state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53"):
                return NanoPayError(.storageUnavailable, "the database is unavailable (\(state))")
            case _ where state.hasPrefix("58"):
                return NanoPayError(.storageUnavailable, "the database is unavailable (\(state))")
            default:
                // The server's text stays out of the answer (it may name tables and constraints).
                return NanoPayError(.internalError, "the database refused an operation (\(state))")
            }
        }
        if error is CancellationError { return NanoPayError(.storageUnavailable, "the operation was cancelled") }
        return NanoPayError(.storageUnavailable, "the database is unavailable")
    }

    /// Serialization failures and deadlocks between replicas: the whole transaction is retried.
    static func isRetryable(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, error.code == .server, let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40001" || state == "40P01" || state == "23505"
    }

    // MARK: Totals

    /// Moves the counter rows of earlier writers (every process start is one) into this
    /// writer's row (migration 0005), so `totals`, which every group commit sums, does not grow by
    /// a row per start. Housekeeping: if it fails, the next start folds them.
    func foldTotals() async {
        let writer = writerId, logger = self.logger
        do {
            let folded = try await withConnection { connection in
                var n: Int32 = 0
                for try await v in try await connection.send("SELECT np_fold_totals(\(writer))", logger: logger).decode(Int32.self) { n = v }
                return n
            }
            if folded > 0 { logger.info("folded the counters of earlier writers", metadata: ["rows": "\(folded)"]) }
        } catch {
            logger.warning("could not fold the counters of earlier writers", metadata: ["code": "\(error.code.rawValue)"])
        }
    }

    /// Reads the cluster's counters now (they are otherwise refreshed after each batch and twice a
    /// second). A batch that published its counters while this read was on its way may be newer
    /// than the read (which can predate its commit, and its callers are answered already): the
    /// read is then dropped and made again, at most three times in all.
    public func refreshTotals() async throws(NanoPayError) {
        for _ in 0..<3 {
            let publications = committedTotals.withLock { $0.batchPublications }
            let totals = try await readTotals()
            let published = committedTotals.withLock { c -> Bool in
                guard c.batchPublications == publications else { return false }
                c.totals = totals
                return true
            }
            if published { return }
        }
    }

    private func readTotals() async throws(NanoPayError) -> LedgerTotals {
        let logger = self.logger
        return try await withConnection { connection in
            var t = LedgerTotals()
            let rows = try await connection.send("""
                SELECT coalesce(sum(accounts), 0)::bigint, coalesce(sum(payments_settled), 0)::bigint, coalesce(sum(payments_held), 0)::bigint,
                       coalesce(sum(payments_approved), 0)::bigint, coalesce(sum(payments_rejected), 0)::bigint, coalesce(sum(payments_expired), 0)::bigint,
                       coalesce(sum(volume), 0)::text, coalesce(sum(deposited), 0)::text, coalesce(sum(withdrawn), 0)::text FROM totals
                """, logger: logger)
            for try await (a, s, h, ap, r, e, v, d, w) in rows.decode((Int64, Int64, Int64, Int64, Int64, Int64, String, String, String).self) {
                t.accounts = UInt64(clamping: a); t.paymentsSettled = UInt64(clamping: s); t.paymentsHeld = UInt64(clamping: h)
                t.paymentsApproved = UInt64(clamping: ap); t.paymentsRejected = UInt64(clamping: r); t.paymentsExpired = UInt64(clamping: e)
                t.volume = try Self.amount(v); t.deposited = try Self.amount(d); t.withdrawn = try Self.amount(w)
            }
            return t
        }
    }

    public var totals: LedgerTotals { committedTotals.withLock { $0.totals } }

    /// A batch's counters, as its last row gives them: its own commit included.
    func publish(_ totals: LedgerTotals) {
        committedTotals.withLock { $0.totals = totals; $0.batchPublications &+= 1 }
    }

    /// The counters as `np_record`'s last row spells them (sums, comma-separated, in
    /// `LedgerTotals` order).
    static func totals(csv: String) -> LedgerTotals? {
        let f = csv.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard f.count == 9, let a = UInt64(f[0]), let s = UInt64(f[1]), let h = UInt64(f[2]), let ap = UInt64(f[3]), let r = UInt64(f[4]),
              let e = UInt64(f[5]), let v = try? Amount(parsing: f[6]), let d = try? Amount(parsing: f[7]), let w = try? Amount(parsing: f[8])
        else { return nil }
        var t = LedgerTotals()
        t.accounts = a; t.paymentsSettled = s; t.paymentsHeld = h; t.paymentsApproved = ap; t.paymentsRejected = r; t.paymentsExpired = e
        t.volume = v; t.deposited = d; t.withdrawn = w
        return t
    }

    public var status: StorageStatus {
        let batches = batchCount.load(ordering: .relaxed)
        return StorageStatus(isHealthy: isHealthy, writerQueueDepth: queue.depth,
                             meanBatchSize: batches == 0 ? 0 : Double(batchedOps.load(ordering: .relaxed)) / Double(batches))
    }

    // MARK: Cluster identity

    /// Stores `candidate` as the cluster's sealed enclave identity unless one is stored already,
    /// and returns the stored one: the first replica's candidate wins, every later replica gets
    /// those same bytes (and must unseal them with the same platform secret).
    public func clusterIdentity(storingIfAbsent candidate: [UInt8]) async throws -> [UInt8] {
        let now = Int64(configuration.clock.nowMilliseconds())
        let logger = self.logger
        return try await withConnection { connection in
            // Only into an empty ledger: a ledger without its identity row (deleted, or a partial
            // restore) must not silently get a new key that no seller has pinned.
            try await connection.run("""
                INSERT INTO cluster_identity (id, sealed, created_at)
                SELECT 1, \(ByteBuffer(bytes: candidate)), \(now)
                 WHERE NOT EXISTS (SELECT 1 FROM transfers) AND NOT EXISTS (SELECT 1 FROM payments)
                ON CONFLICT (id) DO NOTHING
                """, logger: logger)
            for try await sealed in try await connection.send("SELECT sealed FROM cluster_identity WHERE id = 1", logger: logger).decode(ByteBuffer.self) {
                return Array(sealed.readableBytesView)
            }
            throw NanoPayError(.internalError, "the database holds a ledger but no cluster identity; refusing to make a new one (restore the cluster_identity row from a backup)")
        }
    }

    // MARK: Decoding

    static func amount(_ text: String) throws(NanoPayError) -> Amount {
        guard let value = try? Amount(parsing: text) else { throw NanoPayError(.internalError, "the database holds a malformed amount") }
        return value
    }

    static func address(_ text: String) throws(NanoPayError) -> TONAddress {
        guard let address = try? TONAddress(parsing: text) else { throw NanoPayError(.internalError, "the database holds a malformed address") }
        return address
    }
}
