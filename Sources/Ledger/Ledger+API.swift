import Foundation
import NanoPayCore

extension Ledger {
    // MARK: - Writes (each answered after its transaction is durable)

    public func pay(_ request: PaymentRequest) async throws -> PaymentOutcome {
        try await perform(isPayment: true) { tx in try tx.pay(request) }.get().signed(by: configuration.signer)
    }

    /// What `pay` would answer now, without changing anything. A settled answer carries an
    /// unsigned receipt on purpose: nothing was committed, so the enclave vouches for nothing (a
    /// replay's receipt, of a payment that was committed, comes back signed).
    public func checkPayment(_ request: PaymentRequest) async throws -> PaymentOutcome {
        let outcome = try await perform(dryRun: true) { tx in try tx.pay(request) }.get()
        guard case .settled(_, replayed: true) = outcome else { return outcome }
        return outcome.signed(by: configuration.signer)
    }

    /// Several payments in one call; each succeeds or fails on its own (one result per item, in
    /// order). All items are queued to the writer at once, so up to `batchSizeMax` of them share
    /// one transaction: after a crash such a batch is wholly there or wholly absent.
    public func pay(batch requests: [PaymentRequest]) async -> [Result<PaymentOutcome, NanoPayError>] {
        guard !requests.isEmpty else { return [] }
        let unsigned = await withCheckedContinuation { continuation in
            // Completes on the writer thread: hand the results over, sign them elsewhere.
            let results = BatchResults(count: requests.count) { continuation.resume(returning: $0) }
            let ops = requests.enumerated().map { i, request in
                PendingOp(
                    isPayment: true,
                    execute: { tx in
                        do { results.set(i, .success(try tx.pay(request))) } catch let error as NanoPayError {
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
        return await Self.sign(unsigned, by: configuration.signer)
    }

    /// Signs the receipts of a batch's results on every core.
    static func sign(_ results: [Result<PaymentOutcome, NanoPayError>], by signer: any ReceiptSigner) async -> [Result<PaymentOutcome, NanoPayError>] {
        await results.concurrentMap(minimumPerChunk: 16) { $0.map { $0.signed(by: signer) } }
    }

    public func deposit(address: TONAddress, amount: Amount, publicKey: [UInt8]?, reference: String) async throws -> AccountBalance {
        try await perform { tx in try tx.deposit(address: address, amount: amount, publicKey: publicKey, reference: reference) }.get()
    }

    public func withdraw(address: TONAddress, amount: Amount, reference: String) async throws -> AccountBalance {
        try await perform { tx in try tx.withdraw(address: address, amount: amount, reference: reference) }.get()
    }

    public func rotateKey(address: TONAddress, publicKey: [UInt8]) async throws {
        try await perform { tx in try tx.rotateKey(address: address, publicKey: publicKey) }.get()
    }

    public func setPolicy(address: TONAddress, update: PolicyUpdate, authority: PolicyAuthority, expectedVersion: UInt64? = nil) async throws -> Policy {
        try await perform { tx in try tx.setPolicy(address: address, update: update, authority: authority, expectedVersion: expectedVersion) }.get()
    }

    /// Approve (post) or reject (void) a held payment.
    public func decide(approvalId: String, approve: Bool, by: String, reason: String?) async throws -> (Approval, Receipt?) {
        let (approval, receipt) = try await perform { tx in
            let (a, r) = try tx.decide(approvalId, approve: approve, by: by, reason: reason)
            return ApprovalWithReceipt(approval: a, receipt: r)
        }.get().pair
        return (approval, receipt?.signed(by: configuration.signer))
    }

    /// Expires due holds now (every batch also does this first).
    public func sweepExpiredHolds() async throws {
        try await perform { _ in () }.get()
    }

    /// Prunes nonces past validBefore plus the grace period. Returns how many went.
    public func pruneNonces() async throws -> Int {
        try await perform { tx in try tx.pruneNonces() }.get()
    }

    // MARK: - Reads (committed state)

    private func readTransaction<T>(_ body: (LedgerTransaction) throws -> T) throws(NanoPayError) -> T {
        try read { conn in
            try body(LedgerTransaction(db: conn, nowMilliseconds: configuration.clock.nowMilliseconds(),
                                       configuration: configuration, totals: LedgerTotals()))
        }
    }

    public func balance(_ address: TONAddress) throws(NanoPayError) -> AccountBalance {
        try readTransaction { tx in try tx.account(address.raw)?.balance ?? .empty(address.raw) }
    }

    /// The payer's registered key, if any.
    public func publicKey(_ address: TONAddress) throws(NanoPayError) -> [UInt8]? {
        try readTransaction { tx in try tx.account(address.raw)?.publicKey }
    }

    public func policy(_ address: TONAddress) throws(NanoPayError) -> Policy? {
        try readTransaction { tx in try tx.policy(address.raw) }
    }

    /// The authorization (payer, nonce) an x402 payment identifier was bound to, if any.
    public func paymentIdentifier(_ id: String) throws(NanoPayError) -> (payer: String, nonce: [UInt8])? {
        try readTransaction { tx in try tx.paymentIdentifier(id) }
    }

    public func receipt(confirmationId: String) throws(NanoPayError) -> Receipt? {
        try readTransaction { tx in try tx.findReceipt(confirmationId) }?.signed(by: configuration.signer)
    }

    /// One approval as of now: a pending hold past its expiry reads as expired even before the
    /// sweep has voided it.
    public func approval(id: String) throws(NanoPayError) -> (Approval, Receipt?) {
        let (approval, receipt) = try readTransaction { tx in
            var a = try tx.approvalRow(id)
            if a.status == .pending && a.expiresAt <= tx.nowMilliseconds { a.status = .expired }
            return (a, try a.confirmationId.map { try tx.receipt($0) })
        }
        return (approval, receipt?.signed(by: configuration.signer))
    }

    public func approvals(status: ApprovalStatus, limit: Int = 500) throws(NanoPayError) -> [Approval] {
        try readTransaction { tx in
            let cols = "SELECT id, payer, payee, amount, status, reason, requested_at, expires_at, decided_by, decided_at, decision_reason, confirmation_id FROM approvals"
            let s: Statement
            switch status {
            case .pending:
                s = try tx.db.statement(cols + " WHERE status = 'pending' AND expires_at > ? ORDER BY requested_at LIMIT ?")
                s.bind(1, tx.now).bind(2, Int64(limit))
            case .expired:
                s = try tx.db.statement(cols + " WHERE status = 'expired' OR (status = 'pending' AND expires_at <= ?) ORDER BY requested_at DESC LIMIT ?")
                s.bind(1, tx.now).bind(2, Int64(limit))
            default:
                s = try tx.db.statement(cols + " WHERE status = ? ORDER BY requested_at DESC LIMIT ?")
                s.bind(1, status.rawValue).bind(2, Int64(limit))
            }
            var out: [Approval] = []
            while try s.step() {
                var a = LedgerTransaction.approval(from: s)
                if a.status == .pending && a.expiresAt <= tx.nowMilliseconds { a.status = .expired }
                out.append(a)
            }
            return out
        }
    }

    public func pendingApprovalCount() throws(NanoPayError) -> Int {
        try readTransaction { tx in
            let s = try tx.db.statement("SELECT COUNT(*) FROM approvals WHERE status = 'pending' AND expires_at > ?")
            s.bind(1, tx.now)
            return try s.step() ? Int(s.int(0)) : 0
        }
    }
}

struct ApprovalWithReceipt: Sendable {
    var approval: Approval
    var receipt: Receipt?
    var pair: (Approval, Receipt?) { (approval, receipt) }
}

/// Collects one result per batch item from the writer thread; completes once every item finished.
final class BatchResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<PaymentOutcome, NanoPayError>?]
    private var remaining: Int
    private let completion: ([Result<PaymentOutcome, NanoPayError>]) -> Void

    init(count: Int, completion: @escaping ([Result<PaymentOutcome, NanoPayError>]) -> Void) {
        results = Array(repeating: nil, count: count)
        remaining = count
        self.completion = completion
    }

    func set(_ index: Int, _ result: Result<PaymentOutcome, NanoPayError>) {
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

extension PaymentOutcome {
    /// The outcome with its receipt signed (receipts are stored unsigned; see `issueReceipt`).
    func signed(by signer: any ReceiptSigner) -> PaymentOutcome {
        guard case .settled(let receipt, let replayed) = self else { return self }
        return .settled(receipt: receipt.signed(by: signer), replayed: replayed)
    }
}
