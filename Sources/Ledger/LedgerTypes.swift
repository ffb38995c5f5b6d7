import NanoPayCore

/// Why the ledger could not open or keep going. Operating errors of single requests are
/// `NanoPayError` values instead.
public enum LedgerError: Error, CustomStringConvertible {
    case schemaTooNew(database: Int, supported: Int)
    case pragmaNotInEffect(String)
    case storage(String)
    case closed

    public var description: String {
        switch self {
        case .schemaTooNew(let db, let supported):
            return "database schema version \(db) is newer than this build supports (\(supported)); refusing to open it — run a newer nanopayd"
        case .pragmaNotInEffect(let what): return "SQLite setting not in effect: \(what)"
        case .storage(let what): return "storage error: \(what)"
        case .closed: return "ledger is closed"
        }
    }
}

/// Balances of one account, in atomic units.
public struct AccountBalance: Codable, Equatable, Sendable {
    public var address: String
    public var available: Amount
    public var held: Amount
    public var totalDeposited: Amount
    public var totalSpent: Amount
    public var totalReceived: Amount
    public var totalWithdrawn: Amount

    public static func empty(_ address: String) -> AccountBalance {
        AccountBalance(address: address, available: .zero, held: .zero, totalDeposited: .zero,
                       totalSpent: .zero, totalReceived: .zero, totalWithdrawn: .zero)
    }
}

/// Limits for one address. Both the payer's and the payee's policies apply to a payment.
public struct Policy: Codable, Equatable, Sendable {
    public var address: String
    /// A payment above it is held for human approval.
    public var maxAmount: Amount?
    /// Payments per minute (GCRA).
    public var rateLimit: UInt32?
    /// Back-to-back payments allowed from idle; defaults to `rateLimit`.
    public var rateBurst: UInt32?
    /// Rolling 24-hour sum; a payment that would exceed it is held for approval.
    public var dailyCap: Amount?
    public var updatedAt: UInt64
    public var updatedBy: String
    /// How many times this policy was changed (0: never set). A payer-signed tightening names
    /// the version it was signed against and applies only to that version.
    public var version: UInt64
}

public struct PolicyUpdate: Sendable, Equatable {
    public var maxAmount: FieldUpdate<Amount> = .keep
    public var rateLimit: FieldUpdate<UInt32> = .keep
    public var rateBurst: FieldUpdate<UInt32> = .keep
    public var dailyCap: FieldUpdate<Amount> = .keep
    public init(maxAmount: FieldUpdate<Amount> = .keep, rateLimit: FieldUpdate<UInt32> = .keep,
                rateBurst: FieldUpdate<UInt32> = .keep, dailyCap: FieldUpdate<Amount> = .keep) {
        self.maxAmount = maxAmount; self.rateLimit = rateLimit; self.rateBurst = rateBurst; self.dailyCap = dailyCap
    }
}

/// Who changes a policy: an operator may set anything; a payer may only tighten its own.
public enum PolicyAuthority: Sendable, Equatable {
    case `operator`(String)
    case payer
}

/// The states of a HITL hold. It resolves exactly once: pending -> approved | rejected | expired.
public enum ApprovalStatus: String, Codable, Sendable, CaseIterable {
    case pending, approved, rejected, expired
}

public struct Approval: Codable, Equatable, Sendable {
    public var id: String
    public var from: String
    public var to: String
    public var amount: Amount
    public var status: ApprovalStatus
    public var reason: String
    /// Unix milliseconds.
    public var requestedAt: UInt64
    public var expiresAt: UInt64
    public var decidedBy: String?
    public var decidedAt: UInt64?
    public var decisionReason: String?
    public var confirmationId: String?
}

/// What a payment request came to.
public enum PaymentOutcome: Sendable, Equatable {
    /// Debited and receipted. `replayed` is true when this answer repeats an earlier one.
    case settled(receipt: Receipt, replayed: Bool)
    /// Reserved and waiting for a human. `expiresAt` is unix milliseconds.
    case held(approvalId: String, expiresAt: UInt64)
}

/// A payment that passed the stateless checks (well-formed, not expired, signature valid
/// against `verifiedPublicKey`) and now meets the ledger's stateful checks.
public struct PaymentRequest: Sendable {
    public var authorization: PaymentAuthorization
    public var digest: [UInt8]
    public var verifiedPublicKey: [UInt8]
    /// The x402 `payment-identifier` the caller chose, bound to this authorization when the
    /// payment is first recorded (see `Ledger.paymentIdentifier`).
    public var paymentIdentifier: String?
    public init(authorization: PaymentAuthorization, digest: [UInt8], verifiedPublicKey: [UInt8], paymentIdentifier: String? = nil) {
        self.authorization = authorization; self.digest = digest; self.verifiedPublicKey = verifiedPublicKey
        self.paymentIdentifier = paymentIdentifier
    }
}

/// Running figures kept in the same transactions as the movements they count.
public struct LedgerTotals: Equatable, Sendable, Codable {
    public var accounts: UInt64 = 0
    public var paymentsSettled: UInt64 = 0
    public var paymentsHeld: UInt64 = 0
    public var paymentsApproved: UInt64 = 0
    public var paymentsRejected: UInt64 = 0
    public var paymentsExpired: UInt64 = 0
    public var volume = Amount.zero
    public var deposited = Amount.zero
    public var withdrawn = Amount.zero
    public init() {}
}
