/// Balances of one account, in atomic units. `available + held` is what the account owns in the
/// ledger; `held` is reserved by payments waiting for a human (HITL holds).
public struct AccountBalance: Codable, Equatable, Sendable {
    /// Encodes as the canonical raw form (`workchain:hex`).
    public var address: TONAddress
    public var available: Amount
    public var held: Amount
    public var totalDeposited: Amount
    public var totalSpent: Amount
    public var totalReceived: Amount
    public var totalWithdrawn: Amount

    public init(address: TONAddress, available: Amount, held: Amount, totalDeposited: Amount, totalSpent: Amount,
                totalReceived: Amount, totalWithdrawn: Amount) {
        self.address = address; self.available = available; self.held = held; self.totalDeposited = totalDeposited
        self.totalSpent = totalSpent; self.totalReceived = totalReceived; self.totalWithdrawn = totalWithdrawn
    }

    public static func empty(_ address: TONAddress) -> AccountBalance {
        AccountBalance(address: address, available: .zero, held: .zero, totalDeposited: .zero,
                       totalSpent: .zero, totalReceived: .zero, totalWithdrawn: .zero)
    }
}
