/// A payer's signed request to tighten its own policy (no operator token needed).
///
/// Message: `"CyberNanoPay:policy:v2"` (22) ‖ network (u8 length ‖ UTF-8) ‖ service id (32: the
/// enclave's Ed25519 key) ‖ workchain i32 BE ‖ hash (32) ‖ policy version u64 BE ‖ flags u8
/// (bit 0 maxAmount, bit 1 rateLimit, bit 2 dailyCap) ‖ maxAmount u128 BE ‖ rateLimit u32 BE ‖
/// dailyCap u128 BE ‖ validBefore u64 BE; absent fields are zero. The payer signs SHA-256 of it
/// with its registered Ed25519 key.
///
/// What it binds, and why: the network and service id make it valid on one deployment only;
/// the policy version (0 before any policy is set, counted up by every change) makes it apply
/// once, to the policy it was signed against; `validBefore` (at most an hour ahead) bounds how
/// long a captured request is worth anything. The service applies it only if no field becomes
/// looser than its current value.
public enum PolicyTightening {
    public static let tag = "CyberNanoPay:policy:v2"
    /// The furthest ahead a request's `validBefore` may be.
    public static let lifetimeSecondsMax: UInt64 = 3_600

    public static func message(domain: PaymentAuthorization.Domain, address: TONAddress, version: UInt64, maxAmount: Amount?,
                               rateLimit: UInt32?, dailyCap: Amount?, validBefore: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 200)
        w.ascii(tag)
        w.u8(UInt8(domain.network.utf8.count)); w.ascii(domain.network)
        w.raw(domain.serviceId)
        w.i32(address.workchain); w.raw(address.hash)
        w.u64(version)
        w.u8((maxAmount == nil ? 0 : 1) | (rateLimit == nil ? 0 : 2) | (dailyCap == nil ? 0 : 4))
        w.amount(maxAmount ?? .zero); w.u32(rateLimit ?? 0); w.amount(dailyCap ?? .zero); w.u64(validBefore)
        return w.bytes
    }

    public static func sign(keyPair: Ed25519KeyPair, domain: PaymentAuthorization.Domain, address: TONAddress, version: UInt64,
                            maxAmount: Amount?, rateLimit: UInt32?, dailyCap: Amount?, validBefore: UInt64) -> [UInt8] {
        keyPair.sign(Sodium.sha256(message(domain: domain, address: address, version: version, maxAmount: maxAmount,
                                           rateLimit: rateLimit, dailyCap: dailyCap, validBefore: validBefore)))
    }
}
