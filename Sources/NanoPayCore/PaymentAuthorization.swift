/// A buyer's signed permission to move `amount` from `from` to `to`, valid before `validBefore`.
///
/// Identity of a payment is (payer, nonce). Two message versions exist:
/// - v1, byte-compatible with the existing CyberNanoPay buyer SDK:
///   `"CyberGateway:v1:"` (16) ‖ from hash (32) ‖ to hash (32) ‖ amount u128 BE (16) ‖
///   validBefore u64 BE (8) ‖ nonce (32) = 136 bytes.
///   It omits workchains, network and service identity, so a v1 signature can be replayed on
///   another deployment that knows the same payer key.
/// - v2 binds them: `"CyberGateway:v2:"` (16) ‖ network (u8 length ‖ UTF-8) ‖ service verifying
///   id (32) ‖ from workchain i32 BE ‖ from hash (32) ‖ to workchain i32 BE ‖ to hash (32) ‖
///   amount u128 BE ‖ validBefore u64 BE ‖ nonce (32).
/// In both, the buyer signs SHA-256(message) with Ed25519.
public struct PaymentAuthorization: Hashable, Sendable {
    public enum Version: Int, Sendable, Codable { case v1 = 1, v2 = 2 }

    public var from: TONAddress
    public var to: TONAddress
    public var amount: Amount
    public var validBefore: UInt64
    public var nonce: [UInt8]
    public var signature: [UInt8]
    public var version: Version

    public init(from: TONAddress, to: TONAddress, amount: Amount, validBefore: UInt64,
                nonce: [UInt8], signature: [UInt8], version: Version = .v1) {
        precondition(nonce.count == 32 && signature.count == 64)
        self.from = from; self.to = to; self.amount = amount; self.validBefore = validBefore
        self.nonce = nonce; self.signature = signature; self.version = version
    }

    /// What a v2 signature binds besides the payment fields.
    public struct Domain: Hashable, Sendable {
        public var network: String
        /// The service's verifying id: its enclave Ed25519 public key (32 bytes).
        public var serviceId: [UInt8]
        /// Refuses what the message format cannot carry: a service id that is not 32 bytes, or
        /// a network longer than 255 bytes (both can come from a peer's offer).
        public init(network: String, serviceId: [UInt8]) throws(NanoPayError) {
            guard serviceId.count == 32 else { throw .invalid("the service id must be a 32-byte Ed25519 key") }
            guard !network.isEmpty, network.utf8.count <= 255 else { throw .invalid("the network must be 1 to 255 bytes") }
            self.network = network; self.serviceId = serviceId
        }
    }

    public static func message(version: Version, from: TONAddress, to: TONAddress, amount: Amount,
                               validBefore: UInt64, nonce: [UInt8], domain: Domain?) -> [UInt8] {
        var w = ByteWriter(capacity: 200)
        switch version {
        case .v1:
            w.ascii("CyberGateway:v1:")
            w.raw(from.hash); w.raw(to.hash)
        case .v2:
            guard let domain else { preconditionFailure("v2 messages need a domain") }
            w.ascii("CyberGateway:v2:")
            w.u8(UInt8(domain.network.utf8.count)); w.ascii(domain.network)
            w.raw(domain.serviceId)
            w.i32(from.workchain); w.raw(from.hash)
            w.i32(to.workchain); w.raw(to.hash)
        }
        w.amount(amount); w.u64(validBefore); w.raw(nonce)
        return w.bytes
    }

    /// The exact bytes the buyer's signature covers (before SHA-256).
    public func message(domain: Domain?) -> [UInt8] {
        Self.message(version: version, from: from, to: to, amount: amount,
                     validBefore: validBefore, nonce: nonce, domain: domain)
    }

    /// SHA-256 of the message: what is signed, and what identifies "the same authorization".
    public func digest(domain: Domain?) -> [UInt8] { Sodium.sha256(message(domain: domain)) }

    /// Checks the Ed25519 signature against the payer's registered key.
    public func verifySignature(publicKey: [UInt8], domain: Domain?) -> Bool {
        Sodium.ed25519Verify(signature: signature, message: digest(domain: domain), publicKey: publicKey)
    }

    /// Creates and signs an authorization (buyer side).
    public static func sign(keyPair: Ed25519KeyPair, from: TONAddress, to: TONAddress, amount: Amount,
                            validBefore: UInt64, nonce: [UInt8] = Sodium.randomBytes(32),
                            version: Version = .v1, domain: Domain? = nil) -> PaymentAuthorization {
        let msg = message(version: version, from: from, to: to, amount: amount,
                          validBefore: validBefore, nonce: nonce, domain: domain)
        let sig = keyPair.sign(Sodium.sha256(msg))
        return PaymentAuthorization(from: from, to: to, amount: amount, validBefore: validBefore,
                                    nonce: nonce, signature: sig, version: version)
    }
}
