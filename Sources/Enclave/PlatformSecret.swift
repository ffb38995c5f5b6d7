import CSodium
import Foundation
import NanoPayCore
#if canImport(Glibc)
import Glibc
#endif

/// The stand-in for a CPU fuse key: the secret from which the sealing key and the software
/// platform root are derived.
///
/// It lives in libsodium guarded memory (guard pages, no swap, read-only, zeroed when freed) and
/// only as long as someone holds it: `Enclave.init` derives its keys and keeps none of it, so a
/// caller that drops its reference after start-up leaves no copy in the process. It prints as
/// `PlatformSecret(redacted)` everywhere (description, debugDescription, dump, mirrors).
///
/// Where it comes from is `PlatformSecretSource`'s business: never the data directory, so a
/// backup or disk image of DATA alone cannot unseal the identity.
public final class PlatformSecret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let bytes: GuardedBytes

    /// Takes the bytes and wipes the caller's array.
    public init(bytes: inout [UInt8]) throws(EnclaveError) {
        guard bytes.count >= 32 else {
            sodium_memzero(&bytes, bytes.count)
            throw EnclaveError(.platformSecret, "platform secret must be at least 32 bytes")
        }
        self.bytes = try GuardedBytes(copying: &bytes)
    }

    /// For tests and literals: copies `bytes` (the caller's array is not wiped).
    public convenience init(bytes: [UInt8]) throws(EnclaveError) {
        var copy = bytes
        try self.init(bytes: &copy)
    }

    /// Parses a hex secret (the environment variable form): at least 64 hex digits, surrounding
    /// whitespace allowed.
    public convenience init(hex: String) throws(EnclaveError) {
        var text = Array(hex.utf8)
        defer { sodium_memzero(&text, text.count) }
        var decoded = try Self.decodeHex(&text)
        try self.init(bytes: &decoded)
    }

    /// Hex digits (ASCII) to bytes without going through `String`, so the caller can wipe both.
    static func decodeHex(_ text: inout [UInt8]) throws(EnclaveError) -> [UInt8] {
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 }
        var start = 0, end = text.count
        while start < end && isSpace(text[start]) { start += 1 }
        while end > start && isSpace(text[end - 1]) { end -= 1 }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        let count = end - start
        guard count >= 64, count % 2 == 0 else { throw EnclaveError(.platformSecret, "platform secret must be at least 64 hex characters") }
        var out = [UInt8](repeating: 0, count: count / 2)
        for i in 0..<out.count {
            guard let hi = nibble(text[start + 2 * i]), let lo = nibble(text[start + 2 * i + 1]) else {
                sodium_memzero(&out, out.count)
                throw EnclaveError(.platformSecret, "platform secret must be hex")
            }
            out[i] = hi << 4 | lo
        }
        return out
    }

    /// Loads a secret file, which must be mode 0600 (owner only); a file readable by group or
    /// others is refused. The file's bytes are wiped from memory once decoded.
    public static func load(path: String) throws(EnclaveError) -> PlatformSecret {
        var st = stat()
        guard stat(path, &st) == 0 else { throw EnclaveError(.platformSecret, "platform secret file \(path) does not exist") }
        guard (st.st_mode & 0o077) == 0 else {
            throw EnclaveError(.platformSecret, "platform secret file \(path) is readable by group or others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        var text = try readFile(path)
        defer { sodium_memzero(&text, text.count) }
        var decoded = try decodeHex(&text)
        return try PlatformSecret(bytes: &decoded)
    }

    /// Creates a new secret file (32 random bytes as hex, mode 0600, fsynced with its directory);
    /// never overwrites one.
    public static func create(path: String) throws(EnclaveError) -> PlatformSecret {
        var secret = Sodium.randomBytes(32)
        defer { sodium_memzero(&secret, secret.count) }
        var text = Array(Hex.encode(secret).utf8) + [0x0a]
        defer { sodium_memzero(&text, text.count) }
        try writeNew(path: path, bytes: text)
        return try load(path: path)
    }

    static func readFile(_ path: String) throws(EnclaveError) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw EnclaveError(.platformSecret, "cannot read platform secret file \(path)") }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 { sodium_memzero(&out, out.count); throw EnclaveError(.platformSecret, "cannot read platform secret file \(path)") }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            guard out.count <= 4096 else { sodium_memzero(&out, out.count); throw EnclaveError(.platformSecret, "platform secret file \(path) is too large") }
        }
        sodium_memzero(&chunk, chunk.count)
        return out
    }

    static func writeNew(path: String, bytes: [UInt8]) throws(EnclaveError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw EnclaveError(.platformSecret, "cannot create platform secret file \(path)") }
        let ok = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) == $0.count }
        let synced = fsync(fd) == 0
        close(fd)
        guard ok && synced else { unlink(path); throw EnclaveError(.platformSecret, "cannot write platform secret file \(path)") }
        SealedIdentity.fsyncDirectory(of: path)
    }

    /// Whether two secrets are the same bytes (constant time).
    func isEqual(to other: PlatformSecret) -> Bool {
        bytes.withUnsafeBytes { a in
            other.bytes.withUnsafeBytes { b in a.count == b.count && sodium_memcmp(a.baseAddress, b.baseAddress, a.count) == 0 }
        }
    }

    /// A purpose-bound key derived from the secret (keyed BLAKE2b over a context label).
    func derive(_ context: String, bytes count: Int = 32) -> [UInt8] {
        let label = Array(context.utf8)
        var out = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeBytes { key in
            _ = crypto_generichash(&out, count, label, UInt64(label.count), key.bindMemory(to: UInt8.self).baseAddress, min(key.count, 64))
        }
        return out
    }

    public var description: String { "PlatformSecret(redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }
}
