import CNanoPayOpenSSL

/// ECDSA P-384 / SHA-384 (COSE ES384) verification and SHA-384, over OpenSSL's libcrypto.
/// Public keys are 97-byte uncompressed SEC1 points; signatures are raw r‖s (96 bytes).
public enum P384 {
    public static func verify(publicKey: [UInt8], message: [UInt8], signature: [UInt8]) -> Bool {
        guard publicKey.count == 97, signature.count == 96 else { return false }
        return np_p384_verify(publicKey, message, message.count, signature) == 1
    }

    public static func sha384(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 48)
        _ = np_sha384(bytes, bytes.count, &out)
        return out
    }
}
