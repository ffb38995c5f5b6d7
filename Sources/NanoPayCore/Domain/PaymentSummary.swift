/// Where a payment stands. Settled and approved payments moved money; a held one reserved it;
/// rejected and expired holds gave it back.
public enum PaymentStatus: String, Codable, Sendable, CaseIterable {
    case settled, held, approved, rejected, expired
}

/// One payment as an account's history shows it (operators' account lookup): the parties, the
/// amount and what became of it, without the authorization's secrets-free but bulky details.
public struct PaymentSummary: Equatable, Sendable {
    public var from: TONAddress
    public var to: TONAddress
    public var amount: Amount
    public var status: PaymentStatus
    public var createdAtMilliseconds: UInt64
    /// Set once the payment was posted (settled, or an approved hold).
    public var confirmationId: String?
    /// Set when policy held it for a human.
    public var approvalId: String?

    public init(from: TONAddress, to: TONAddress, amount: Amount, status: PaymentStatus, createdAtMilliseconds: UInt64,
                confirmationId: String?, approvalId: String?) {
        self.from = from; self.to = to; self.amount = amount; self.status = status
        self.createdAtMilliseconds = createdAtMilliseconds; self.confirmationId = confirmationId; self.approvalId = approvalId
    }
}
