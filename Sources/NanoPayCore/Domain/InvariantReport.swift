import Foundation

/// What the invariant check found. Empty `violations` means the ledger is consistent.
public struct InvariantReport: Sendable, CustomStringConvertible {
    public init() {}
    public var accounts = 0
    public var transfers = 0
    public var violations: [String] = []
    public var isConsistent: Bool { violations.isEmpty }
    public var description: String {
        isConsistent ? "consistent (\(accounts) accounts, \(transfers) transfers)" : violations.joined(separator: "\n")
    }
}

