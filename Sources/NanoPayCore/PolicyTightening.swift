/// A payer's signed request to tighten its own policy (no operator token needed).
///
/// Message: `"CyberNanoPay:policy:v1"` (22) ‖ workchain i32 BE ‖ hash (32) ‖ flags u8
/// (bit 0 maxAmount, bit 1 rateLimit, bit 2 dailyCap) ‖ maxAmount u128 BE ‖ rateLimit u32 BE ‖
/// dailyCap u128 BE ‖ validBefore u64 BE; absent fields are zero. The payer signs SHA-256 of it
/// with its registered Ed25519 key. The service applies it only if every field it sets is no
/// looser than the current value, and only before `validBefore`.
public enum PolicyTightening {
    public static func message(address: TONAddress, maxAmount: Amount?, rateLimit: UInt32?, dailyCap: Amount?, validBefore: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 120)
        w.ascii("CyberNanoPay:policy:v1")
        w.i32(address.workchain); w.raw(address.hash)
        w.u8((maxAmount == nil ? 0 : 1) | (rateLimit == nil ? 0 : 2) | (dailyCap == nil ? 0 : 4))
        w.amount(maxAmount ?? .zero); w.u32(rateLimit ?? 0); w.amount(dailyCap ?? .zero); w.u64(validBefore)
        return w.bytes
    }

    public static func sign(keyPair: Ed25519KeyPair, address: TONAddress, maxAmount: Amount?, rateLimit: UInt32?, dailyCap: Amount?, validBefore: UInt64) -> [UInt8] {
        keyPair.sign(Sodium.sha256(message(address: address, maxAmount: maxAmount, rateLimit: rateLimit, dailyCap: dailyCap, validBefore: validBefore)))
    }
}
