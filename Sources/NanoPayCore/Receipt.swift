/// The enclave's signed statement that a payment was committed to the ledger.
///
/// The signature covers deterministic bytes, never JSON text, so any JSON encoder may carry a
/// receipt and any holder of the attested enclave public key can verify it offline:
/// ```
/// "CyberNanoPay:receipt:v1" (23 bytes)
/// ‖ confirmationId (16) ‖ from workchain i32 BE ‖ from hash (32) ‖ to workchain i32 BE ‖ to hash (32)
/// ‖ amount u128 BE ‖ nonce (32) ‖ validBefore u64 BE ‖ remainingBalance u128 BE ‖ confirmedAt u64 BE
/// ‖ authorizationDigest (32) ‖ network (u16 length ‖ UTF-8) ‖ asset (u16 length ‖ UTF-8)
/// ```
/// signed with Ed25519 (pure, no pre-hash).
public struct Receipt: Codable, Hashable, Sendable {
    public var version: Int
    public var confirmationId: String
    public var from: String
    public var to: String
    public var amount: Amount
    public var nonce: String
    public var validBefore: UInt64
    public var remainingBalance: Amount
    public var confirmedAt: UInt64
    public var authorizationDigest: String
    public var network: String
    public var asset: String
    public var enclavePublicKey: String
    public var signature: String

    public static let tag = "CyberNanoPay:receipt:v1"

    public init(version: Int = 1, confirmationId: String, from: String, to: String, amount: Amount, nonce: String,
                validBefore: UInt64, remainingBalance: Amount, confirmedAt: UInt64, authorizationDigest: String,
                network: String, asset: String, enclavePublicKey: String, signature: String) {
        self.version = version; self.confirmationId = confirmationId; self.from = from; self.to = to
        self.amount = amount; self.nonce = nonce; self.validBefore = validBefore
        self.remainingBalance = remainingBalance; self.confirmedAt = confirmedAt
        self.authorizationDigest = authorizationDigest; self.network = network; self.asset = asset
        self.enclavePublicKey = enclavePublicKey; self.signature = signature
    }

    /// The bytes the enclave signs. Nil if a field is malformed or not in its canonical spelling
    /// (raw lowercase addresses, lowercase hex): one receipt has one text, so two verifiers can't
    /// disagree about what a signed receipt says. Such a receipt never verifies.
    public func signingBytes() -> [UInt8]? {
        guard version == 1,
              Self.isLowercase(confirmationId), Self.isLowercase(nonce), Self.isLowercase(authorizationDigest),
              let cid = Hex.decode(confirmationId, byteCount: 16),
              let fromAddress = try? TONAddress(parsing: from), fromAddress.raw == from,
              let toAddress = try? TONAddress(parsing: to), toAddress.raw == to,
              let nonceBytes = Hex.decode(nonce, byteCount: 32),
              let digest = Hex.decode(authorizationDigest, byteCount: 32),
              network.utf8.count <= 255, asset.utf8.count <= 255
        else { return nil }
        return Self.signingBytes(confirmationId: cid, from: fromAddress, to: toAddress, amount: amount, nonce: nonceBytes,
                                 validBefore: validBefore, remainingBalance: remainingBalance, confirmedAt: confirmedAt,
                                 authorizationDigest: digest, network: network, asset: asset)
    }

    /// The signed bytes from typed facts (the service signs these without parsing any text).
    /// `network` and `asset` must be at most 255 bytes each (the deployment's own, validated).
    public static func signingBytes(confirmationId: [UInt8], from: TONAddress, to: TONAddress, amount: Amount, nonce: [UInt8],
                                    validBefore: UInt64, remainingBalance: Amount, confirmedAt: UInt64, authorizationDigest: [UInt8],
                                    network: String, asset: String) -> [UInt8] {
        var w = ByteWriter(capacity: 280)
        w.ascii(tag)
        w.raw(confirmationId)
        w.i32(from.workchain); w.raw(from.hash)
        w.i32(to.workchain); w.raw(to.hash)
        w.amount(amount); w.raw(nonce); w.u64(validBefore)
        w.amount(remainingBalance); w.u64(confirmedAt); w.raw(authorizationDigest)
        w.field(network); w.field(asset)
        return w.bytes
    }

    @inline(__always) static func isLowercase(_ hex: String) -> Bool { !hex.utf8.contains { $0 >= 0x41 && $0 <= 0x5a } }

    /// Verifies the signature against a key the verifier pinned (from attestation), never
    /// against the key the receipt itself names: a receipt is not self-certifying.
    public func verify(pinnedEnclaveKey: [UInt8]) -> Bool {
        guard let bytes = signingBytes(), let sig = Hex.decode(signature, byteCount: 64) else { return false }
        return Sodium.ed25519Verify(signature: sig, message: bytes, publicKey: pinnedEnclaveKey)
    }
}

/// Anything that can sign receipt bytes with the enclave identity key. `Enclave` is the one
/// implementation; the ledger sees only this protocol, never key bytes.
public protocol ReceiptSigner: Sendable {
    var publicKey: [UInt8] { get }
    func sign(receiptBytes: [UInt8]) -> [UInt8]
}

import Foundation

extension Receipt {
    /// The receipt as a JSON value (to embed in x402 messages).
    public var jsonValue: JSONValue {
        let data = (try? JSONEncoder().encode(self)) ?? Data("{}".utf8)
        return (try? JSONDecoder().decode(JSONValue.self, from: data)) ?? .object([:])
    }

    /// Reads a receipt back from a JSON value.
    public init?(jsonValue: JSONValue) {
        guard let data = try? JSONEncoder().encode(jsonValue), let r = try? JSONDecoder().decode(Receipt.self, from: data) else { return nil }
        self = r
    }
}
