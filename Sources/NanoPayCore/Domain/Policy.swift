/// Limits for one address. Both the payer's and the payee's policies apply to a payment.
public struct Policy: Codable, Equatable, Sendable {
    /// Encodes as the canonical raw form.
    public var address: TONAddress
    /// A payment above it is held for human approval.
    public var maxAmount: Amount?
    /// Payments per minute (GCRA).
    public var rateLimit: UInt32?
    /// Back-to-back payments allowed from idle; defaults to `rateLimit`.
    public var rateBurst: UInt32?
    /// Rolling 24-hour sum; a payment that would exceed it is held for approval.
    public var dailyCap: Amount?
    public var updatedAtMilliseconds: UInt64
    public var updatedBy: String
    /// How many times this policy was changed (0: never set). A payer-signed tightening names
    /// the version it was signed against and applies only to that version.
    public var version: UInt64

    public init(address: TONAddress, maxAmount: Amount?, rateLimit: UInt32?, rateBurst: UInt32?, dailyCap: Amount?,
                updatedAtMilliseconds: UInt64, updatedBy: String, version: UInt64) {
        self.address = address; self.maxAmount = maxAmount; self.rateLimit = rateLimit; self.rateBurst = rateBurst
        self.dailyCap = dailyCap; self.updatedAtMilliseconds = updatedAtMilliseconds; self.updatedBy = updatedBy
        self.version = version
    }
}

/// A change to one policy field.
public enum FieldUpdate<Value: Sendable & Equatable>: Sendable, Equatable {
    case keep
    case set(Value)
    case clear
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
