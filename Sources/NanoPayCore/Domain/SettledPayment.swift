/// The committed facts of one posted payment, as the ledger records and returns them: who paid
/// whom how much, for which authorization, when, and the payer's balance after. The service
/// turns them into a `Receipt` by adding what the deployment vouches for (network, asset, the
/// enclave key) and asking the enclave to sign; the ledger never signs and never knows those.
///
/// Its JSON form uses the receipt's key names (`confirmedAt` is unix seconds): migration 0005
/// reads the unsigned receipts earlier versions stored with it.
public struct SettledPayment: Codable, Equatable, Sendable {
    public var confirmationId: String
    public var from: String
    public var to: String
    public var amount: Amount
    /// Hex, as signed.
    public var nonce: String
    public var validBefore: UInt64
    public var remainingBalance: Amount
    public var confirmedAtSeconds: UInt64
    /// Hex SHA-256 of the signed authorization message.
    public var authorizationDigest: String

    enum CodingKeys: String, CodingKey {
        case confirmationId, from, to, amount, nonce, validBefore, remainingBalance, authorizationDigest
        case confirmedAtSeconds = "confirmedAt"
    }

    public init(confirmationId: String, from: String, to: String, amount: Amount, nonce: String, validBefore: UInt64,
                remainingBalance: Amount, confirmedAtSeconds: UInt64, authorizationDigest: String) {
        self.confirmationId = confirmationId; self.from = from; self.to = to; self.amount = amount; self.nonce = nonce
        self.validBefore = validBefore; self.remainingBalance = remainingBalance; self.confirmedAtSeconds = confirmedAtSeconds
        self.authorizationDigest = authorizationDigest
    }
}

extension Receipt {
    /// The unsigned receipt of a settled payment on this deployment.
    public init(_ payment: SettledPayment, network: String, asset: String, enclavePublicKey: [UInt8]) {
        self.init(confirmationId: payment.confirmationId, from: payment.from, to: payment.to, amount: payment.amount,
                  nonce: payment.nonce, validBefore: payment.validBefore, remainingBalance: payment.remainingBalance,
                  confirmedAt: payment.confirmedAtSeconds, authorizationDigest: payment.authorizationDigest,
                  network: network, asset: asset, enclavePublicKey: Hex.encode(enclavePublicKey), signature: "")
    }
}
