/// The committed facts of one posted payment, as the ledger records and returns them, typed:
/// who paid whom how much, for which authorization (nonce and digest as bytes), when, and the
/// payer's balance after. The service turns them into a `Receipt` by adding what the deployment
/// vouches for (network, asset, the enclave key) and asking the enclave to sign the receipt
/// bytes built from these typed values; the ledger never signs and never knows those.
public struct SettledPayment: Equatable, Sendable {
    /// 16 bytes: posting time, then a hash of payer and digest (`LedgerTransaction.confirmationId`).
    public var confirmationId: [UInt8]
    public var from: TONAddress
    public var to: TONAddress
    public var amount: Amount
    public var nonce: [UInt8]
    public var validBefore: UInt64
    public var remainingBalance: Amount
    public var confirmedAtSeconds: UInt64
    /// SHA-256 of the signed authorization message.
    public var authorizationDigest: [UInt8]

    public init(confirmationId: [UInt8], from: TONAddress, to: TONAddress, amount: Amount, nonce: [UInt8], validBefore: UInt64,
                remainingBalance: Amount, confirmedAtSeconds: UInt64, authorizationDigest: [UInt8]) {
        self.confirmationId = confirmationId; self.from = from; self.to = to; self.amount = amount; self.nonce = nonce
        self.validBefore = validBefore; self.remainingBalance = remainingBalance; self.confirmedAtSeconds = confirmedAtSeconds
        self.authorizationDigest = authorizationDigest
    }

    /// The confirmation id as the API spells it (lowercase hex).
    public var confirmationIdText: String { Hex.encode(confirmationId) }

    /// The receipt's signed bytes on a deployment, from the typed facts.
    public func receiptSigningBytes(network: String, asset: String) -> [UInt8] {
        Receipt.signingBytes(confirmationId: confirmationId, from: from, to: to, amount: amount, nonce: nonce, validBefore: validBefore,
                             remainingBalance: remainingBalance, confirmedAt: confirmedAtSeconds, authorizationDigest: authorizationDigest,
                             network: network, asset: asset)
    }
}

extension Receipt {
    /// The unsigned receipt of a settled payment on this deployment (canonical text by
    /// construction: raw lowercase addresses, lowercase hex).
    public init(_ payment: SettledPayment, network: String, asset: String, enclavePublicKey: [UInt8]) {
        self.init(confirmationId: payment.confirmationIdText, from: payment.from.raw, to: payment.to.raw, amount: payment.amount,
                  nonce: Hex.encode(payment.nonce), validBefore: payment.validBefore, remainingBalance: payment.remainingBalance,
                  confirmedAt: payment.confirmedAtSeconds, authorizationDigest: Hex.encode(payment.authorizationDigest),
                  network: network, asset: asset, enclavePublicKey: Hex.encode(enclavePublicKey), signature: "")
    }

    /// The facts a receipt states, typed; nil if its text is not canonical (see `signingBytes`).
    public var settledPayment: SettledPayment? {
        guard signingBytes() != nil, let cid = Hex.decode(confirmationId, byteCount: 16),
              let from = try? TONAddress(parsing: from), let to = try? TONAddress(parsing: to),
              let nonce = Hex.decode(nonce, byteCount: 32), let digest = Hex.decode(authorizationDigest, byteCount: 32)
        else { return nil }
        return SettledPayment(confirmationId: cid, from: from, to: to, amount: amount, nonce: nonce, validBefore: validBefore,
                              remainingBalance: remainingBalance, confirmedAtSeconds: confirmedAt, authorizationDigest: digest)
    }
}
