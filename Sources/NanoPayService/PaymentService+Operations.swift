import NanoPayCore

/// The operator's and the payer's other doors: funds, keys, policies, holds and reads. Each rule
/// lives here, next to the call it governs; the ledger only records.
extension PaymentService {
    /// External references (a chain transaction hash, say) are 1 to 256 bytes on one line.
    public static let referenceLengthMax = 256
    /// An operator's decision reason is at most 1 KiB.
    public static let reasonLengthMax = 1024

    static func checkReference(_ text: String) throws(NanoPayError) {
        guard !text.isEmpty, text.utf8.count <= referenceLengthMax, !text.contains(where: { $0.isNewline }) else {
            throw NanoPayError.invalid("reference must be 1 to \(referenceLengthMax) bytes on one line")
        }
    }

    /// Runs a ledger call, answering every failure as an operating error.
    func store<T>(_ body: () async throws -> T) async throws(NanoPayError) -> T {
        do { return try await body() } catch { throw NanoPayError.wrap(error) }
    }

    // MARK: Funds and keys

    /// Credits a deposit, idempotent by `reference`; `publicKey` registers the payer's key on
    /// its first deposit (a different key later is `public_key_conflict`: rotate instead).
    public func deposit(address: TONAddress, amount: Amount, publicKey: [UInt8]?, reference: String) async throws(NanoPayError) -> AccountBalance {
        try Self.checkReference(reference)
        if let publicKey, publicKey.count != 32 { throw NanoPayError.invalid("publicKey must be 64 hex characters") }
        return try await store { try await ledger.deposit(address: address, amount: amount, publicKey: publicKey, reference: reference) }
    }

    public func withdraw(address: TONAddress, amount: Amount, reference: String) async throws(NanoPayError) -> AccountBalance {
        try Self.checkReference(reference)
        return try await store { try await ledger.withdraw(address: address, amount: amount, reference: reference) }
    }

    /// Replaces the payer's registered key (operator); returns the balance.
    public func rotateKey(address: TONAddress, publicKey: [UInt8]) async throws(NanoPayError) -> AccountBalance {
        guard publicKey.count == 32 else { throw NanoPayError.invalid("publicKey must be 64 hex characters") }
        try await store { try await ledger.rotateKey(address: address, publicKey: publicKey) }
        return try await balance(address)
    }

    public func balance(_ address: TONAddress) async throws(NanoPayError) -> AccountBalance {
        try await store { try await ledger.balance(address) }
    }

    /// Most payments one history read returns.
    public static let recentPaymentsMax = 200

    /// The account's latest payments, made or received, newest first (operators' lookup).
    public func recentPayments(_ address: TONAddress, limit: Int = 50) async throws(NanoPayError) -> [PaymentSummary] {
        guard (1...Self.recentPaymentsMax).contains(limit) else {
            throw NanoPayError.invalid("limit must be between 1 and \(Self.recentPaymentsMax)")
        }
        return try await store { try await ledger.recentPayments(address, limit: limit) }
    }

    // MARK: Policies

    /// An operator's change: fields set are set, cleared are removed, kept are kept.
    public func setPolicy(address: TONAddress, update: PolicyUpdate, by operatorName: String) async throws(NanoPayError) -> Policy {
        try await store { try await ledger.setPolicy(address: address, update: update, authority: .operator(operatorName), expectedVersion: nil) }
    }

    /// A payer's request to change its own policy, as the API receives it: a payer may only
    /// tighten (set or lower a limit), never clear a limit or set a burst, and only with a
    /// signature (see `tightenPolicy`).
    public func payerPolicyRequest(address: TONAddress, update: PolicyUpdate, version: UInt64, validBefore: UInt64,
                                   signature: [UInt8]) async throws(NanoPayError) -> Policy {
        func value<V>(_ u: FieldUpdate<V>, _ name: String) throws(NanoPayError) -> V? {
            switch u {
            case .keep: return nil
            case .set(let v): return v
            case .clear: throw NanoPayError(.policyNotTighter, "a payer cannot remove its \(name)")
            }
        }
        guard update.rateBurst == .keep else { throw NanoPayError.invalid("rateBurst can only be set by an operator") }
        return try await tightenPolicy(address: address, version: version, maxAmount: try value(update.maxAmount, "maxAmount"),
                                       rateLimit: try value(update.rateLimit, "rateLimit"), dailyCap: try value(update.dailyCap, "dailyCap"),
                                       validBefore: validBefore, signature: signature)
    }

    /// Applies a payer-signed tightening of its own policy (see `PolicyTightening`): signed for
    /// this deployment (network and enclave key), for the policy's current `version`, before
    /// `validBefore`, which may be at most an hour ahead. The version is compared inside the
    /// ledger transaction that applies it, so a request applies at most once; a replay, or a
    /// request signed against an older policy, is `policy_conflict`.
    public func tightenPolicy(address: TONAddress, version: UInt64, maxAmount: Amount?, rateLimit: UInt32?, dailyCap: Amount?,
                              validBefore: UInt64, signature: [UInt8]) async throws(NanoPayError) -> Policy {
        let now = clock.nowSeconds()
        guard now < validBefore else { throw NanoPayError(.expired, "policy request expired (validBefore)") }
        guard validBefore - now <= PolicyTightening.lifetimeSecondsMax else {
            throw NanoPayError.invalid("validBefore may be at most \(PolicyTightening.lifetimeSecondsMax) s ahead")
        }
        // The key as committed now, not a replica's cached copy: a key rotated away must not sign
        // anything more (a payment's key is checked again under the payer's lock; this is not).
        guard let key = try await store({ try await ledger.uncachedPublicKey(address) }) else {
            throw NanoPayError(.unknownPayer, "\(address.raw) has no registered key")
        }
        let message = PolicyTightening.message(domain: domain, address: address, version: version, maxAmount: maxAmount,
                                               rateLimit: rateLimit, dailyCap: dailyCap, validBefore: validBefore)
        guard Sodium.ed25519Verify(signature: signature, message: Sodium.sha256(message), publicKey: key) else {
            throw NanoPayError(.invalidSignature, "policy signature does not verify against the registered key for this network and service")
        }
        let update = PolicyUpdate(maxAmount: maxAmount.map { .set($0) } ?? .keep, rateLimit: rateLimit.map { .set($0) } ?? .keep,
                                  dailyCap: dailyCap.map { .set($0) } ?? .keep)
        return try await store { try await ledger.setPolicy(address: address, update: update, authority: .payer, expectedVersion: version) }
    }

    /// The policy in force for an address (`policy_not_found` if none is set).
    public func policy(_ address: TONAddress) async throws(NanoPayError) -> Policy {
        guard let policy = try await store({ try await ledger.policy(address) }) else {
            throw NanoPayError(.policyNotFound, "no policy for \(address.raw)")
        }
        return policy
    }

    // MARK: Holds (HITL)

    /// What an operator's decision came to.
    public enum HoldDecision: Sendable {
        /// Approved (with the payment's signed receipt) or rejected.
        case decided(Approval, receipt: Receipt?)
        /// The hold was already approved, rejected or expired, whoever resolved it: for the
        /// operator deciding now this is a conflict, not a missing or gone resource.
        case alreadyResolved(NanoPayError)
    }

    /// Approves (posts) or rejects (voids) a pending hold, exactly once.
    public func decide(approvalId: String, approve: Bool, by operatorName: String, reason: String?) async throws(NanoPayError) -> HoldDecision {
        if let reason, reason.utf8.count > Self.reasonLengthMax {
            throw NanoPayError.invalid("reason is longer than \(Self.reasonLengthMax) bytes")
        }
        do {
            let (approval, payment) = try await ledger.decideHold(approvalId: approvalId, approve: approve, by: operatorName, reason: reason)
            return .decided(approval, receipt: payment.map { receipt($0) })
        } catch {
            let e = NanoPayError.wrap(error)
            switch e.code {
            case .alreadyApproved, .alreadyRejected, .approvalExpired: return .alreadyResolved(e)
            default: throw e
            }
        }
    }

    public func approval(id: String) async throws(NanoPayError) -> (Approval, Receipt?) {
        let (approval, payment) = try await store { try await ledger.approval(id: id) }
        return (approval, payment.map { receipt($0) })
    }

    public func approvals(status: ApprovalStatus, limit: Int = 500) async throws(NanoPayError) -> [Approval] {
        try await store { try await ledger.approvals(status: status, limit: limit) }
    }

    // MARK: Service state

    /// What `/stats` shows.
    public struct Snapshot: Sendable {
        public var totals: LedgerTotals
        public var outcomes: [String: UInt64]
        public var pendingApprovals: Int
        public var uptimeSeconds: UInt64
        /// p50, p90, p99, p999 of `/verify`, in milliseconds (bucket upper bounds).
        public var verifyLatencyMilliseconds: [String: Double]
        public var meanCommitBatch: Double
    }

    public func snapshot() async throws(NanoPayError) -> Snapshot {
        var latency: [String: Double] = [:]
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
            if let v = stats.latencyQuantileMilliseconds(q) { latency[name] = v }
        }
        return Snapshot(totals: ledger.totals, outcomes: stats.outcomeCounts,
                        pendingApprovals: try await store { try await ledger.pendingApprovalCount() },
                        uptimeSeconds: stats.uptimeSeconds, verifyLatencyMilliseconds: latency, meanCommitBatch: ledger.status.meanBatchSize)
    }

    /// The ledger's running totals (as of the last commit).
    public var totals: LedgerTotals { ledger.totals }
    /// The storage engine's health and writer figures.
    public var storageStatus: StorageStatus { ledger.status }
}
