import Foundation
import NanoPayCore

extension Ledger: LedgerStore {
    // MARK: - Writes (each answered after its transaction is durable)

    public func recordPayment(_ request: PaymentRequest, holdTimeoutSeconds: UInt64) async throws -> PaymentRecord {
        try await perform(isPayment: true) { tx in try tx.pay(request, holdTimeoutSeconds: holdTimeoutSeconds) }.get()
    }

    public func checkPayment(_ request: PaymentRequest, holdTimeoutSeconds: UInt64) async throws -> PaymentRecord {
        try await perform(dryRun: true) { tx in try tx.pay(request, holdTimeoutSeconds: holdTimeoutSeconds) }.get()
    }

    /// All items are queued to the writer at once, so up to `batchSizeMax` of them share one
    /// transaction: after a crash such a batch is wholly there or wholly absent.
    public func recordPayments(_ requests: [PaymentRequest], holdTimeoutSeconds: UInt64) async -> [Result<PaymentRecord, NanoPayError>] {
        guard !requests.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            let results = BatchResults(count: requests.count) { continuation.resume(returning: $0) }
            let ops = requests.enumerated().map { i, request in
                PendingOp(
                    isPayment: true,
                    execute: { tx in
                        do { results.set(i, .success(try tx.pay(request, holdTimeoutSeconds: holdTimeoutSeconds))) } catch let error as NanoPayError {
                            results.set(i, .failure(error))
                            throw error
                        }
                    },
                    finish: { failure in
                        // A failed commit undoes whatever the op answered.
                        if let failure { results.set(i, .failure(NanoPayError(.storageUnavailable, failure.message))) }
                        results.finishOne()
                    })
            }
            do throws(EnqueueRefusal) { try enqueue(ops) } catch {
                for i in requests.indices {
                    results.set(i, .failure(error.answer))
                    results.finishOne()
                }
            }
        }
    }

    public func deposit(address: TONAddress, amount: Amount, publicKey: [UInt8]?, reference: String) async throws -> AccountBalance {
        defer { if publicKey != nil { keys.invalidate(address.raw) } }
        return try await perform { tx in try tx.deposit(address: address, amount: amount, publicKey: publicKey, reference: reference) }.get()
    }

    public func withdraw(address: TONAddress, amount: Amount, reference: String) async throws -> AccountBalance {
        try await perform { tx in try tx.withdraw(address: address, amount: amount, reference: reference) }.get()
    }

    public func rotateKey(address: TONAddress, publicKey: [UInt8]) async throws {
        defer { keys.invalidate(address.raw) }
        try await perform { tx in try tx.rotateKey(address: address, publicKey: publicKey) }.get()
    }

    public func setPolicy(address: TONAddress, update: PolicyUpdate, authority: PolicyAuthority, expectedVersion: UInt64? = nil) async throws -> Policy {
        try await perform { tx in try tx.setPolicy(address: address, update: update, authority: authority, expectedVersion: expectedVersion) }.get()
    }

    public func decideHold(approvalId: String, approve: Bool, by: String, reason: String?) async throws -> (Approval, SettledPayment?) {
        try await perform { tx in
            let (a, p) = try tx.decide(approvalId, approve: approve, by: by, reason: reason)
            return ApprovalWithPayment(approval: a, payment: p)
        }.get().pair
    }

    /// Expires due holds now (every batch also does this first).
    public func sweepExpiredHolds() async throws {
        try await perform { _ in () }.get()
    }

    public func reservePayment(_ request: PaymentRequest, holdTimeoutSeconds: UInt64, reservationTimeoutSeconds: UInt64,
                               captureTokenHash: [UInt8]) async throws -> ReservationRecord {
        try await perform(isPayment: true) { tx in
            try tx.reserve(request, holdTimeoutSeconds: holdTimeoutSeconds, reservationTimeoutSeconds: reservationTimeoutSeconds,
                           captureTokenHash: captureTokenHash)
        }.get()
    }

    public func resolveReservation(id: String, captureTokenHash: [UInt8], capture: Bool) async throws -> ReservationResolution {
        try await perform { tx in try tx.resolveReservation(id, captureTokenHash: captureTokenHash, capture: capture) }.get()
    }

    /// Prunes nonces past validBefore plus the grace period. Returns how many went.
    public func pruneNonces() async throws -> Int {
        try await perform { tx in try tx.pruneNonces() }.get()
    }

    // MARK: - Reads (committed state, on the reader threads)

    private func readTransaction<T: Sendable>(_ body: @escaping @Sendable (LedgerTransaction) throws -> T) async throws(NanoPayError) -> T {
        let configuration = self.configuration
        return try await read { conn in
            try body(LedgerTransaction(db: conn, nowMilliseconds: configuration.clock.nowMilliseconds(),
                                       configuration: configuration, totals: LedgerTotals()))
        }
    }

    public func balance(_ address: TONAddress) async throws -> AccountBalance {
        try await readTransaction { tx in try tx.account(address)?.balance ?? .empty(address) }
    }

    /// The payer's registered key, if any: from memory when cached (keys change only by a
    /// deposit that registers one or a rotation, which drop the cached entry once committed).
    public func publicKey(_ address: TONAddress) async throws -> [UInt8]? {
        let raw = address.raw
        if let key = keys.cached(raw) { return key }
        let generation = keys.generation
        let key = try await readTransaction { tx in try tx.account(address)?.publicKey }
        if let key { keys.insert(raw, key, ifStillAt: generation) }
        return key
    }

    /// This process owns every write, so its cache is exact: the cached answer is the committed one.
    public func uncachedPublicKey(_ address: TONAddress) async throws -> [UInt8]? {
        try await publicKey(address)
    }

    public func policy(_ address: TONAddress) async throws -> Policy? {
        try await readTransaction { tx in try tx.policy(address) }
    }

    public func settledPayment(confirmationId: String) async throws -> SettledPayment? {
        try await readTransaction { tx in try tx.findSettledPayment(confirmationId) }
    }

    public func paymentIdentifier(_ id: String) async throws -> (payer: String, nonce: [UInt8])? {
        try await readTransaction { tx in try tx.paymentIdentifier(id).map { PaymentIdentifierBinding(payer: $0.payer, nonce: $0.nonce) } }
            .map { ($0.payer, $0.nonce) }
    }

    public func approval(id: String) async throws -> (Approval, SettledPayment?) {
        try await readTransaction { tx in
            var a = try tx.approvalRow(id)
            if a.status == .pending && a.expiresAtMilliseconds <= tx.nowMilliseconds { a.status = .expired }
            return ApprovalWithPayment(approval: a, payment: try a.confirmationId.map { try tx.settledPayment($0) })
        }.pair
    }

    public func approvals(status: ApprovalStatus, limit: Int = 500) async throws -> [Approval] {
        try await readTransaction { tx in
            let cols = "SELECT id, payer, payee, amount, status, reason, requested_at, expires_at, decided_by, decided_at, decision_reason, confirmation_id FROM approvals"
            let s: Statement
            switch status {
            case .pending:
                s = try tx.db.statement(cols + " WHERE kind = 'approval' AND status = 'pending' AND expires_at > ? ORDER BY requested_at LIMIT ?")
                s.bind(1, tx.now).bind(2, Int64(limit))
            case .expired:
                s = try tx.db.statement(cols + " WHERE kind = 'approval' AND (status = 'expired' OR (status = 'pending' AND expires_at <= ?)) ORDER BY requested_at DESC LIMIT ?")
                s.bind(1, tx.now).bind(2, Int64(limit))
            case .approved, .rejected:
                s = try tx.db.statement(cols + " WHERE kind = 'approval' AND status = ? ORDER BY requested_at DESC LIMIT ?")
                s.bind(1, status.rawValue).bind(2, Int64(limit))
            }
            var out: [Approval] = []
            while try s.step() {
                var a = try LedgerTransaction.approval(from: s)
                if a.status == .pending && a.expiresAtMilliseconds <= tx.nowMilliseconds { a.status = .expired }
                out.append(a)
            }
            return out
        }
    }

    public func recentPayments(_ address: TONAddress, limit: Int) async throws -> [PaymentSummary] {
        try await readTransaction { tx in try tx.recentPayments(address, limit: limit) }
    }

    public func pendingApprovalCount() async throws -> Int {
        try await readTransaction { tx in
            let s = try tx.db.statement("SELECT COUNT(*) FROM approvals WHERE kind = 'approval' AND status = 'pending' AND expires_at > ?")
            s.bind(1, tx.now)
            return try s.step() ? Int(s.int(0)) : 0
        }
    }

    public var status: StorageStatus {
        StorageStatus(isHealthy: isStorageHealthy, writerQueueDepth: writerQueueDepth, meanBatchSize: meanBatchSize)
    }
}

struct PaymentIdentifierBinding: Sendable {
    var payer: String
    var nonce: [UInt8]
}

struct ApprovalWithPayment: Sendable {
    var approval: Approval
    var payment: SettledPayment?
    var pair: (Approval, SettledPayment?) { (approval, payment) }
}

/// Collects one result per batch item from the writer thread; completes once every item finished.
final class BatchResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<PaymentRecord, NanoPayError>?]
    private var remaining: Int
    private let completion: ([Result<PaymentRecord, NanoPayError>]) -> Void

    init(count: Int, completion: @escaping ([Result<PaymentRecord, NanoPayError>]) -> Void) {
        results = Array(repeating: nil, count: count)
        remaining = count
        self.completion = completion
    }

    func set(_ index: Int, _ result: Result<PaymentRecord, NanoPayError>) {
        lock.lock(); results[index] = result; lock.unlock()
    }

    func finishOne() {
        lock.lock()
        remaining -= 1
        let done = remaining == 0
        lock.unlock()
        if done {
            completion(results.map { $0 ?? .failure(NanoPayError(.internalError, "operation produced no result")) })
        }
    }
}
