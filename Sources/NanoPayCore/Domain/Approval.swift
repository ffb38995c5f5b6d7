/// The states of a HITL hold. It resolves exactly once: pending -> approved | rejected | expired.
public enum ApprovalStatus: String, Codable, Sendable, CaseIterable {
    case pending, approved, rejected, expired
}

/// A payment that policy held for a human, and what became of it.
public struct Approval: Codable, Equatable, Sendable {
    public var id: String
    /// Payer and payee; encode as canonical raw forms.
    public var from: TONAddress
    public var to: TONAddress
    public var amount: Amount
    public var status: ApprovalStatus
    /// Which policy held it and why.
    public var reason: String
    public var requestedAtMilliseconds: UInt64
    public var expiresAtMilliseconds: UInt64
    public var decidedBy: String?
    public var decidedAtMilliseconds: UInt64?
    public var decisionReason: String?
    public var confirmationId: String?

    public init(id: String, from: TONAddress, to: TONAddress, amount: Amount, status: ApprovalStatus, reason: String,
                requestedAtMilliseconds: UInt64, expiresAtMilliseconds: UInt64, decidedBy: String?,
                decidedAtMilliseconds: UInt64?, decisionReason: String?, confirmationId: String?) {
        self.id = id; self.from = from; self.to = to; self.amount = amount; self.status = status; self.reason = reason
        self.requestedAtMilliseconds = requestedAtMilliseconds; self.expiresAtMilliseconds = expiresAtMilliseconds
        self.decidedBy = decidedBy; self.decidedAtMilliseconds = decidedAtMilliseconds
        self.decisionReason = decisionReason; self.confirmationId = confirmationId
    }
}
