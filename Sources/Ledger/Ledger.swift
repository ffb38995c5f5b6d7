import CSQLite
import Foundation
import Metrics
import NIOPosix
import NanoPayCore
import Synchronization

/// The embedded storage engine (`LedgerStore`): durable balances, nonces, policies, holds and
/// settled payments in SQLite (WAL, `synchronous=FULL`). It records facts; it does not sign and
/// does not know the network, the asset or the approval timeout (the service passes that).
///
/// Threading: every state change runs on one writer thread (`GroupCommitWriter`) and is
/// answered only after its transaction is fsynced. Reads run on two reader threads of their own
/// (an `NIOThreadPool`, as GRDB's `DatabasePool.read` keeps SQLite off the caller's threads) with
/// pooled read-only connections, and see the last committed state; payers' keys, read on every
/// payment, are cached in memory. Time comes from the injected clock; the writer reads it once
/// per batch, so every op in a transaction sees the same `now`.
public final class Ledger: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var path: String
        public var clock: any NanoClock
        /// Most ops in one transaction.
        public var batchSizeMax: Int
        /// Most ops waiting for the writer; beyond it requests are refused with `overloaded`.
        public var queueLimit: Int
        /// Nonces of authorizations past validBefore plus this grace may be pruned. At least a
        /// day, so rolling daily caps still see every payment of the last 24 hours.
        public var nonceGraceSeconds: UInt64
        /// Called by the writer at each step of a commit that holds at least one payment, with
        /// the step. Only crash tests set it (nanopayd's `NANOPAY_TEST_CRASH_AT`); it runs on the
        /// writer thread and must not block.
        public var commitHook: (@Sendable (CommitPoint) -> Void)?
        /// WAL growth (pages) after which the background thread checkpoints, and WAL size at
        /// which the writer checkpoints inline so the WAL can start over (see `WALCheckpointer`).
        public var walCheckpointPages: (background: Int32, inline: Int32) = (64, 32_768)

        public init(path: String, clock: any NanoClock, batchSizeMax: Int = 512,
                    nonceGraceSeconds: UInt64 = 86_400 + 3_600, queueLimit: Int = 16_384,
                    commitHook: (@Sendable (CommitPoint) -> Void)? = nil) {
            self.path = path; self.clock = clock; self.batchSizeMax = batchSizeMax
            self.nonceGraceSeconds = max(nonceGraceSeconds, 86_400)
            self.commitHook = commitHook
            self.queueLimit = max(queueLimit, batchSizeMax)
        }
    }

    public let configuration: Configuration
    /// Owned by the writer thread. Nil after a storage fault: a connection whose write or fsync
    /// failed is not trusted again (its page cache may hold what the disk refused); the next
    /// batch opens a fresh one, which is how the ledger recovers by itself.
    private var writerConnection: SQLiteConnection?
    private var writer: GroupCommitWriter!
    private let checkpointer: WALCheckpointer
    private let readers = Locked<[SQLiteConnection]>([])
    /// The threads reads run on, so SQLite never blocks Swift's cooperative pool.
    private let readerThreads = NIOThreadPool(numberOfThreads: 2)
    private let readersStopped = Atomic<Bool>(false)
    /// Payers' registered keys, read on every payment.
    let keys = PublicKeyCache()
    /// Totals as of the last commit; owned by the writer thread, published for readers.
    private let committedTotals: Locked<LedgerTotals>
    private let storageHealthy = Atomic<Bool>(true)
    private let batches = Atomic<Int>(0)
    private let batchedOps = Atomic<Int>(0)
    private let storageFaults = Atomic<Int>(0)
    /// Each commit's op count, for /metrics (created on first use, once the process's metrics
    /// backend is installed).
    private let batchSizes = Locked<Recorder?>(nil)

    /// Opens (creating if needed) the database, applies migrations and starts the writer.
    public init(_ configuration: Configuration) throws {
        self.configuration = configuration
        let db = try Self.openWriterConnection(configuration.path)
        _ = try Migrations.apply(db, nowMilliseconds: configuration.clock.nowMilliseconds())
        writerConnection = db
        committedTotals = Locked(try LedgerTransaction.loadTotals(db))
        checkpointer = WALCheckpointer(path: configuration.path, backgroundPages: configuration.walCheckpointPages.background,
                                       inlinePages: configuration.walCheckpointPages.inline)
        checkpointer.attach(to: db)
        checkpointer.start()
        if configuration.commitHook != nil { StorageVFS.installWalSyncHook() }
        writer = GroupCommitWriter(batchSizeMax: configuration.batchSizeMax, queueLimit: configuration.queueLimit) { [unowned self] batch in
            self.commit(batch)
        }
        writer.start()
        readerThreads.start()
    }

    /// A read-write connection with WAL and `synchronous=FULL`, both checked to be in effect
    /// (some wrappers silently reset them).
    private static func openWriterConnection(_ path: String) throws -> SQLiteConnection {
        let db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=FULL")
        try db.execute("PRAGMA foreign_keys=ON")
        // The writer's working set (hot accounts, index pages of recent payments) stays in memory.
        try db.execute("PRAGMA cache_size=-65536")
        // Each op runs in a savepoint; SQLite keeps the pages it may have to restore in a
        // statement journal, which by default spills to a temporary file (two pwrites per page,
        // ~25 system calls per payment measured). In memory it is a memcpy.
        try db.execute("PRAGMA temp_store=MEMORY")
        try db.requireWALMode()
        guard try db.scalarInt("PRAGMA synchronous") == 2 else { throw LedgerError.pragmaNotInEffect("synchronous=FULL") }
        return db
    }

    /// Writer thread: the connection for the next batch, reopened (with the committed totals
    /// re-read from disk) after a storage fault. Throws while the storage still refuses.
    private func writableConnection() throws -> SQLiteConnection {
        if let db = writerConnection { return db }
        let db = try Self.openWriterConnection(configuration.path)
        checkpointer.attach(to: db)
        let totals = try LedgerTransaction.loadTotals(db)
        committedTotals.withLock { $0 = totals }
        writerConnection = db
        return db
    }

    /// The `synchronous` level in effect on the writer connection (2 = FULL).
    public func synchronousLevel() async throws -> Int64 {
        try await perform { tx in try tx.db.scalarInt("PRAGMA synchronous") ?? -1 }.get()
    }

    /// Finishes every queued op (the last commit included) and closes the store.
    public func close() {
        writer.close()
        checkpointer.close()
        stopReaders()
        readers.withLock { $0.removeAll() }
    }

    /// Stops the reader threads once (close, or deinit of a ledger nobody closed). From deinit it
    /// must not wait: the last reference may be dropped on a reader thread itself.
    private func stopReaders(wait: Bool = true) {
        guard readersStopped.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        if wait { try? readerThreads.syncShutdownGracefully() } else { readerThreads.shutdownGracefully { _ in } }
    }

    deinit {
        writer?.close()
        checkpointer.close()
        stopReaders(wait: false)
    }

    // MARK: - Running ops on the writer

    /// Runs `body` on the writer thread inside the next group transaction and returns once that
    /// transaction is durable. A thrown `NanoPayError` rolls back this op alone (nothing it wrote
    /// survives); a storage fault fails the whole batch with `storage_unavailable`.
    /// The result carries the op's `NanoPayError`; callers unwrap it with `get()`.
    /// With `dryRun`, the op runs against the real state and its answer is returned, but every
    /// write it made is rolled back (used by the x402 facilitator's read-only verify).
    public func perform<T: Sendable>(dryRun: Bool = false, isPayment: Bool = false,
                                     _ body: @escaping @Sendable (LedgerTransaction) throws -> T) async -> Result<T, NanoPayError> {
        await withCheckedContinuation { continuation in
            let slot = ResultSlot<T>()
            let op = PendingOp(
                dryRun: dryRun, isPayment: isPayment,
                execute: { tx in
                    do {
                        slot.value = .success(try body(tx))
                    } catch let error as NanoPayError {
                        slot.value = .failure(error)
                        throw error
                    }
                },
                finish: { failure in
                    if let failure {
                        continuation.resume(returning: .failure(NanoPayError(.storageUnavailable, failure.message)))
                    } else {
                        continuation.resume(returning: slot.value ?? .failure(NanoPayError(.internalError, "operation produced no result")))
                    }
                })
            do throws(EnqueueRefusal) { try enqueue([op]) } catch {
                continuation.resume(returning: .failure(error.answer))
            }
        }
    }

    /// Queues ops for the writer, all or none.
    func enqueue(_ ops: [PendingOp]) throws(EnqueueRefusal) { try writer.enqueue(ops) }

    /// Writer thread: one transaction for the whole batch, a savepoint per op.
    private func commit(_ batch: [PendingOp]) {
        let hook = batch.contains(where: \.isPayment) ? configuration.commitHook : nil
        hook?(.assembled)
        let now = configuration.clock.nowMilliseconds()
        let db: SQLiteConnection
        do {
            db = try writableConnection()
        } catch {
            return fail(batch, because: error)
        }
        let tx = LedgerTransaction(db: db, nowMilliseconds: now, configuration: configuration,
                                   totals: committedTotals.withLock { $0 })
        do {
            try db.statement("BEGIN IMMEDIATE").run()
            try tx.expireDueHolds()
            for op in batch {
                let saved = tx.totals
                tx.beginOp()
                try db.statement("SAVEPOINT op").run()
                do {
                    try op.execute(tx)
                    if op.dryRun { throw DryRunRollback() }
                    try db.statement("RELEASE op").run()
                } catch let error as SQLiteError where error.isStorageFault {
                    throw error
                } catch {
                    tx.totals = saved
                    tx.rollbackOp()
                    db.resetActiveStatements()
                    try db.statement("ROLLBACK TO op").run()
                    try db.statement("RELEASE op").run()
                    // A non-storage SQLite error is a bug: this op alone fails (its result slot
                    // stays empty and the caller gets internal_error); the rest of the batch goes on.
                }
            }
            try tx.flushAccounts()
            try tx.saveTotals()
            db.resetActiveStatements()
            hook?(.executed)
            if let hook { StorageVFS.walSyncAction.withLock { $0 = { hook(.written) } } }
            defer { if hook != nil { StorageVFS.walSyncAction.withLock { $0 = nil } } }
            try db.statement("COMMIT").run()
        } catch {
            // Nothing of this batch is acknowledged. SQLite rolls back a failed COMMIT; make sure,
            // then drop the connection: after a failed write or fsync it is not trusted again.
            db.resetActiveStatements()
            _ = try? db.execute("ROLLBACK")
            writerConnection = nil
            return fail(batch, because: error)
        }
        hook?(.fsynced)
        storageHealthy.store(true, ordering: .relaxed)
        committedTotals.withLock { $0 = tx.totals }
        batches.add(1, ordering: .relaxed)
        batchedOps.add(batch.count, ordering: .relaxed)
        batchSizes.withLock { r in
            if r == nil { r = Recorder(label: "nanopay_ledger_commit_batch_size", aggregate: true) }
            return r!
        }.record(batch.count)
        for op in batch { op.finish(nil) }
        hook?(.answered)
    }

    /// Answers every op of a batch that did not commit with `storage_unavailable`.
    private func fail(_ batch: [PendingOp], because error: any Error) {
        storageHealthy.store(false, ordering: .relaxed)
        storageFaults.add(1, ordering: .relaxed)
        let failure = BatchFailure(message: "the ledger could not be written (\(Self.describe(error))); this request is not acknowledged: retry the same request, it is applied at most once")
        for op in batch { op.finish(failure) }
    }

    private static func describe(_ error: any Error) -> String {
        guard let e = error as? SQLiteError else { return "storage error" }
        switch e.code & 0xff {
        case SQLITE_FULL: return "disk full"
        case SQLITE_IOERR: return "I/O error"
        case SQLITE_READONLY: return "read-only storage"
        case SQLITE_BUSY, SQLITE_LOCKED: return "database locked"
        default: return "storage error \(e.code)"
        }
    }

    // MARK: - Reads

    /// Runs a read on a reader thread with a pooled read-only connection (committed state only).
    func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws(NanoPayError) -> T {
        do {
            return try await readerThreads.runIfActive { [self] in try readBlocking(body) }
        } catch let error as NanoPayError {
            throw error
        } catch {
            throw NanoPayError(.storageUnavailable, "the ledger cannot be read right now")
        }
    }

    /// A read on the calling thread: for tools and tests (invariant checks), never for requests.
    func readBlocking<T>(_ body: (SQLiteConnection) throws -> T) throws(NanoPayError) -> T {
        let conn: SQLiteConnection
        do {
            conn = try readers.withLock { $0.popLast() } ?? SQLiteConnection(path: configuration.path, readOnly: true)
        } catch {
            throw NanoPayError(.storageUnavailable, "the ledger cannot be read right now")
        }
        defer {
            conn.resetActiveStatements()
            readers.withLock { if $0.count < 16 { $0.append(conn) } }
        }
        do {
            return try body(conn)
        } catch let error as NanoPayError {
            throw error
        } catch {
            throw NanoPayError(.storageUnavailable, "the ledger cannot be read right now")
        }
    }

    /// Whether the last commit succeeded.
    public var isStorageHealthy: Bool { storageHealthy.load(ordering: .relaxed) }
    public var totals: LedgerTotals { committedTotals.withLock { $0 } }
    public var writerQueueDepth: Int { writer.queueDepth }
    /// Batches that failed on storage since start.
    public var storageFaultCount: Int { storageFaults.load(ordering: .relaxed) }
    /// Background checkpoints that failed (the WAL still holds everything).
    public var checkpointFailures: Int { checkpointer.failures }
    /// WAL frames the background checkpointer has copied into the database file.
    public var backgroundCheckpointFrames: Int { checkpointer.backgroundFramesCopied }
    /// WAL frames (pages) the writer has written: the ledger's write volume, in pages.
    public var walFramesWritten: Int { checkpointer.framesWritten }
    /// Times the writer asked the background checkpointer to run.
    public var backgroundCheckpointRequests: Int { checkpointer.requests }
    /// Mean ops per committed transaction so far.
    public var meanBatchSize: Double {
        let b = batches.load(ordering: .relaxed)
        return b == 0 ? 0 : Double(batchedOps.load(ordering: .relaxed)) / Double(b)
    }
}
