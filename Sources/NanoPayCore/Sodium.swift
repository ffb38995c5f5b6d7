import CSodium

/// Thin, allocation-light wrappers over libsodium. libsodium is the one Ed25519 verifier the
/// whole system uses, so acceptance never depends on which library ran (it rejects small-order
/// keys and non-canonical encodings).
public enum Sodium {
    /// `sodium_init` is idempotent and thread-safe; every entry point below calls through this.
    private static let initialized: Bool = sodium_init() >= 0

    @inline(__always) static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialize")
    }

    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        ensureInitialized()
        var out = [UInt8](repeating: 0, count: 32)
        crypto_hash_sha256(&out, bytes, UInt64(bytes.count))
        return out
    }

    public static func sha512(_ bytes: [UInt8]) -> [UInt8] {
        ensureInitialized()
        var out = [UInt8](repeating: 0, count: 64)
        crypto_hash_sha512(&out, bytes, UInt64(bytes.count))
        return out
    }

    /// HMAC-SHA256 with a key of any length (RFC 2104).
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        ensureInitialized()
        var state = crypto_auth_hmacsha256_state()
        var out = [UInt8](repeating: 0, count: 32)
        crypto_auth_hmacsha256_init(&state, key, key.count)
        crypto_auth_hmacsha256_update(&state, message, UInt64(message.count))
        crypto_auth_hmacsha256_final(&state, &out)
        return out
    }

    /// Keyed BLAKE2b (for key derivation from a secret).
    public static func blake2b(_ message: [UInt8], key: [UInt8], outputBytes: Int = 32) -> [UInt8] {
        ensureInitialized()
        var out = [UInt8](repeating: 0, count: outputBytes)
        crypto_generichash(&out, outputBytes, message, UInt64(message.count), key, key.count)
        return out
    }

    public static func randomBytes(_ count: Int) -> [UInt8] {
        ensureInitialized()
        var out = [UInt8](repeating: 0, count: count)
        randombytes_buf(&out, count)
        return out
    }

    /// Constant-time equality; lengths are compared first (length is not secret here).
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        ensureInitialized()
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return sodium_memcmp(a, b, a.count) == 0
    }

    /// Ed25519 detached verification.
    public static func ed25519Verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        ensureInitialized()
        guard signature.count == 64, publicKey.count == 32 else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}

/// An Ed25519 key pair held by a client (a buyer or an operator tool), derived from a 32-byte seed.
///
/// The service's own key never uses this type: it lives only inside `Enclave`.
/// A buyer's key pair. Prints as redacted: the secret half never reaches a log through
/// `description`, string interpolation or `dump`.
public struct Ed25519KeyPair: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let publicKey: [UInt8]
    private let secretKey: [UInt8]

    public init(seed: [UInt8]) {
        precondition(seed.count == 32, "Ed25519 seed is 32 bytes")
        Sodium.ensureInitialized()
        var pk = [UInt8](repeating: 0, count: 32)
        var sk = [UInt8](repeating: 0, count: 64)
        crypto_sign_seed_keypair(&pk, &sk, seed)
        publicKey = pk
        secretKey = sk
    }

    public static func generate() -> Ed25519KeyPair {
        var seed = Sodium.randomBytes(32)
        defer { sodium_memzero(&seed, seed.count) }
        return Ed25519KeyPair(seed: seed)
    }

    public var description: String { "Ed25519KeyPair(publicKey: \(Hex.encode(publicKey)), secret redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["publicKey": Hex.encode(publicKey)], displayStyle: .struct) }

    public func sign(_ message: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: 64)
        crypto_sign_detached(&sig, nil, message, UInt64(message.count), secretKey)
        return sig
    }
}
