/// What a payment request came to in the ledger: committed facts, not yet a receipt.
public enum PaymentRecord: Sendable, Equatable {
    /// Debited. `replayed` is true when this answer repeats an earlier one.
    case settled(SettledPayment, replayed: Bool)
    /// Reserved and waiting for a human.
    case held(approvalId: String, expiresAtMilliseconds: UInt64)
}

/// How the writer is doing, for /health, /stats and /metrics.
public struct StorageStatus: Sendable, Equatable {
    /// Whether the last commit succeeded.
    public var isHealthy: Bool
    /// Ops waiting for the writer.
    public var writerQueueDepth: Int
    /// Mean ops per committed transaction so far.
    public var meanBatchSize: Double
    public init(isHealthy: Bool, writerQueueDepth: Int, meanBatchSize: Double) {
        self.isHealthy = isHealthy; self.writerQueueDepth = writerQueueDepth; self.meanBatchSize = meanBatchSize
    }
}

/// The storage engine behind `NanoPayService`: it records facts and returns the committed facts
/// (ids, balances after, times). It owns atomicity, durability and the invariants of money (no
/// negative balance, a nonce pays once, a hold resolves once); the service owns every other rule,
/// builds receipts and asks the enclave to sign them.
///
/// Every write is answered only once durable; a write that throws changed nothing. Reads see
/// committed state and never block the caller's thread: engines run them on threads of their own.
/// `LedgerStoreContractTests` runs the same semantic tests against every engine.
public protocol LedgerStore: AnyObject, Sendable {
    // MARK: Payments
    /// Nonce state, policies (rate limit, holds), balance, then debit and credit (or a hold that
    /// expires `holdTimeoutSeconds` after the commit, or at validBefore if sooner), all in one
    /// transaction. An identical resubmission returns the original record, `replayed: true`.
    /// With `request.ticketTerms` the terms are recorded in the same transaction; a resubmission
    /// must then name the same terms (`ticket_terms_conflict`), an authorization that bought a
    /// ticket is not answered as a plain payment and the reverse (`authorization_in_use`).
    func recordPayment(_ request: PaymentRequest, holdTimeoutSeconds: UInt64) async throws -> PaymentRecord
    /// Several payments, each succeeding or failing alone, one result per item in order.
    func recordPayments(_ requests: [PaymentRequest], holdTimeoutSeconds: UInt64) async -> [Result<PaymentRecord, NanoPayError>]
    /// What `recordPayment` would answer now, changing nothing.
    func checkPayment(_ request: PaymentRequest, holdTimeoutSeconds: UInt64) async throws -> PaymentRecord

    // MARK: Reservations (two-phase payments)
    /// Like `recordPayment`, but instead of settling, holds the funds as a reservation that
    /// expires `reservationTimeoutSeconds` after the commit (or at validBefore if sooner), which
    /// only the holder of the token whose SHA-256 is `captureTokenHash` may capture or void.
    /// An authorization already reserved, settled or held is `authorization_in_use`; a payment
    /// policy holds for a human is `.held`, as `recordPayment` answers.
    func reservePayment(_ request: PaymentRequest, holdTimeoutSeconds: UInt64, reservationTimeoutSeconds: UInt64,
                        captureTokenHash: [UInt8]) async throws -> ReservationRecord
    /// Captures (posts) or voids a reservation, once; a retry of the same resolution answers it
    /// again (`replayed`), the other one is `already_captured` / `already_voided`. A token whose
    /// hash differs is `forbidden`; an expired reservation is `reservation_expired`.
    func resolveReservation(id: String, captureTokenHash: [UInt8], capture: Bool) async throws -> ReservationResolution

    // MARK: Holds
    /// Approves (posts) or rejects (voids) a pending hold, exactly once.
    func decideHold(approvalId: String, approve: Bool, by: String, reason: String?) async throws -> (Approval, SettledPayment?)
    /// Expires due holds now.
    func sweepExpiredHolds() async throws

    // MARK: Funds, keys, policies
    func deposit(address: TONAddress, amount: Amount, publicKey: [UInt8]?, reference: String) async throws -> AccountBalance
    func withdraw(address: TONAddress, amount: Amount, reference: String) async throws -> AccountBalance
    func rotateKey(address: TONAddress, publicKey: [UInt8]) async throws
    /// With `expectedVersion`, applies only to that version of the policy (`policy_conflict` otherwise).
    func setPolicy(address: TONAddress, update: PolicyUpdate, authority: PolicyAuthority, expectedVersion: UInt64?) async throws -> Policy
    /// Deletes nonce rows past validBefore plus the grace period; returns how many.
    func pruneNonces() async throws -> Int

    // MARK: Reads (committed state)
    /// The payer's registered key. Hot path: engines answer from memory when they can.
    func publicKey(_ address: TONAddress) async throws -> [UInt8]?
    /// The payer's registered key as committed now, bypassing any cache. The service asks for it
    /// only when a signature fails against `publicKey`'s answer: an engine shared by replicas
    /// may have cached a key another replica has since rotated.
    func uncachedPublicKey(_ address: TONAddress) async throws -> [UInt8]?
    func balance(_ address: TONAddress) async throws -> AccountBalance
    func policy(_ address: TONAddress) async throws -> Policy?
    func settledPayment(confirmationId: String) async throws -> SettledPayment?
    /// One approval as of now (a pending hold past its expiry reads as expired).
    func approval(id: String) async throws -> (Approval, SettledPayment?)
    func approvals(status: ApprovalStatus, limit: Int) async throws -> [Approval]
    /// The account's latest payments, made or received, newest first (at most `limit`).
    func recentPayments(_ address: TONAddress, limit: Int) async throws -> [PaymentSummary]
    func pendingApprovalCount() async throws -> Int
    /// The authorization (payer, nonce) an x402 payment identifier was bound to, if any.
    func paymentIdentifier(_ id: String) async throws -> (payer: String, nonce: [UInt8])?

    // MARK: State
    var totals: LedgerTotals { get }
    var status: StorageStatus { get }
    /// Finishes every queued write and closes the store.
    func close()
}

extension LedgerStore {
    /// An unconditional policy change (operators; tests).
    public func setPolicy(address: TONAddress, update: PolicyUpdate, authority: PolicyAuthority) async throws -> Policy {
        try await setPolicy(address: address, update: update, authority: authority, expectedVersion: nil)
    }
}
