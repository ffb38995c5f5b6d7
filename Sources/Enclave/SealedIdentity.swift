import CSodium
import Foundation
import NanoPayCore
#if canImport(Glibc)
import Glibc
#endif

/// The enclave identity key sealed to disk.
///
/// File format (`identity.sealed`): magic `NPSEAL01` (8) ‖ XChaCha20-Poly1305 nonce (24) ‖
/// ciphertext of the 32-byte Ed25519 seed with its 16-byte tag (48); associated data is the magic.
/// The sealing key is derived from the platform secret only (not from the executable's
/// measurement), so the identity survives upgrades of the binary, like SGX's MRSIGNER policy.
/// A wrong secret or any flipped byte fails authentication and is refused: a new key is never
/// made silently over an existing sealed file.
enum SealedIdentity {
    static let magic: [UInt8] = Array("NPSEAL01".utf8)
    static let fileBytes = 8 + 24 + 32 + 16

    static func sealingKey(_ secret: PlatformSecret) -> [UInt8] { secret.derive("CyberNanoPay:seal:identity:v1") }

    /// Returns the seed, creating and sealing a fresh one if the file does not exist.
    static func loadOrCreate(path: String, secret: PlatformSecret) throws(EnclaveError) -> [UInt8] {
        if FileManager.default.fileExists(atPath: path) {
            return try unseal(path: path, secret: secret)
        }
        var seed = Sodium.randomBytes(32)
        let sealed = seal(seed: seed, secret: secret)
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw EnclaveError(.storage, "cannot create \(tmp)") }
        let written = sealed.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == sealed.count, synced, rename(tmp, path) == 0 else {
            sodium_memzero(&seed, seed.count)
            throw EnclaveError(.storage, "cannot write sealed identity \(path)")
        }
        fsyncDirectory(of: path)
        return seed
    }

    static func seal(seed: [UInt8], secret: PlatformSecret) -> [UInt8] {
        var key = sealingKey(secret)
        defer { sodium_memzero(&key, key.count) }
        let nonce = Sodium.randomBytes(24)
        var ciphertext = [UInt8](repeating: 0, count: seed.count + 16)
        var clen: UInt64 = 0
        crypto_aead_xchacha20poly1305_ietf_encrypt(&ciphertext, &clen, seed, UInt64(seed.count), magic, UInt64(magic.count), nil, nonce, key)
        return magic + nonce + ciphertext
    }

    static func unseal(path: String, secret: PlatformSecret) throws(EnclaveError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EnclaveError(.sealedKey, "cannot read sealed identity \(path)")
        }
        return try unseal([UInt8](data), origin: "sealed identity \(path)", secret: secret)
    }

    /// Opens sealed bytes from wherever they were kept (`origin` names it in errors): a file, or
    /// the cluster's database row.
    static func unseal(_ bytes: [UInt8], origin: String, secret: PlatformSecret) throws(EnclaveError) -> [UInt8] {
        let path = origin
        guard bytes.count == fileBytes, Array(bytes[0..<8]) == magic else {
            throw EnclaveError(.sealedKey, "\(path) is not a CyberNanoPay sealed key (wrong size or magic); refusing to start")
        }
        var key = sealingKey(secret)
        defer { sodium_memzero(&key, key.count) }
        let nonce = Array(bytes[8..<32])
        let ciphertext = Array(bytes[32...])
        var seed = [UInt8](repeating: 0, count: 32)
        var mlen: UInt64 = 0
        let rc = crypto_aead_xchacha20poly1305_ietf_decrypt(&seed, &mlen, nil, ciphertext, UInt64(ciphertext.count), magic, UInt64(magic.count), nonce, key)
        guard rc == 0, mlen == 32 else {
            throw EnclaveError(.sealedKey, "\(path) cannot be opened: wrong platform secret or the bytes were tampered with; refusing to start (no new key is made over an existing one)")
        }
        return seed
    }

    static func fsyncDirectory(of path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        let fd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}
