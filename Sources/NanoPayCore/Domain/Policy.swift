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

extension Policy {
    /// The policy after `update`, for every engine alike. A payer may only tighten: lower a limit
    /// or set one that was absent; never clear or raise one. With `expectedVersion`, the change
    /// applies only to that version of the policy (0: none set yet); any other is
    /// `policy_conflict`. Every change counts the version up, so one signed request applies at
    /// most once.
    public static func applying(_ update: PolicyUpdate, to current: Policy?, address: TONAddress, authority: PolicyAuthority,
                                expectedVersion: UInt64?, nowMilliseconds: UInt64) throws(NanoPayError) -> Policy {
        var p = current ?? Policy(address: address, maxAmount: nil, rateLimit: nil, rateBurst: nil, dailyCap: nil,
                                  updatedAtMilliseconds: 0, updatedBy: "", version: 0)
        if let expectedVersion, expectedVersion != p.version {
            throw NanoPayError(.policyConflict, "the request was signed for policy version \(expectedVersion) but the policy is at version \(p.version); sign again for the current version")
        }
        p.version += 1
        func apply<V: Comparable & Sendable>(_ u: FieldUpdate<V>, _ current: V?, _ name: String) throws(NanoPayError) -> V? {
            switch u {
            case .keep: return current
            case .clear:
                if authority == .payer { throw NanoPayError(.policyNotTighter, "a payer cannot remove its \(name)") }
                return nil
            case .set(let v):
                if authority == .payer, let current, v > current {
                    throw NanoPayError(.policyNotTighter, "a payer can only lower its \(name) (now \(current))")
                }
                return v
            }
        }
        p.maxAmount = try apply(update.maxAmount, p.maxAmount, "maxAmount")
        p.rateLimit = try apply(update.rateLimit, p.rateLimit, "rateLimit")
        p.rateBurst = try apply(update.rateBurst, p.rateBurst, "rateBurst")
        p.dailyCap = try apply(update.dailyCap, p.dailyCap, "dailyCap")
        if p.rateLimit == nil { p.rateBurst = nil }
        p.updatedAtMilliseconds = nowMilliseconds
        switch authority {
        case .operator(let who): p.updatedBy = "operator:\(who)"
        case .payer: p.updatedBy = "payer"
        }
        return p
    }
}
