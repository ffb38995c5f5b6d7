/// What a payment request came to.
public enum PaymentOutcome: Sendable, Equatable {
    /// Debited and receipted. `replayed` is true when this answer repeats an earlier one.
    case settled(receipt: Receipt, replayed: Bool)
    /// Reserved and waiting for a human.
    case held(approvalId: String, expiresAtMilliseconds: UInt64)
}

/// A payment that passed the stateless checks (well-formed, not expired, signature valid
/// against `verifiedPublicKey`) and now meets the ledger's stateful checks.
public struct PaymentRequest: Sendable {
    public var authorization: PaymentAuthorization
    public var digest: [UInt8]
    public var verifiedPublicKey: [UInt8]
    /// The x402 `payment-identifier` the caller chose, bound to this authorization when the
    /// payment is first recorded.
    public var paymentIdentifier: String?
    /// Set when the payment buys a ticket: the terms are recorded with it, in its transaction.
    public var ticketTerms: TicketTerms?
    public init(authorization: PaymentAuthorization, digest: [UInt8], verifiedPublicKey: [UInt8], paymentIdentifier: String? = nil,
                ticketTerms: TicketTerms? = nil) {
        self.authorization = authorization; self.digest = digest; self.verifiedPublicKey = verifiedPublicKey
        self.paymentIdentifier = paymentIdentifier; self.ticketTerms = ticketTerms
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
