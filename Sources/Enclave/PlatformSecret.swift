import Foundation
import NanoPayCore
#if canImport(Glibc)
import Glibc
#endif

/// The stand-in for a CPU fuse key: the secret from which the sealing key and the software
/// platform root are derived. It comes from `NANOPAY_PLATFORM_SECRET` (64 hex) or from a file
/// that must be mode 0600 (owner only); a file readable by group or others is refused.
public struct PlatformSecret: Sendable {
    let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(EnclaveError) {
        guard bytes.count >= 32 else { throw EnclaveError(.platformSecret, "platform secret must be at least 32 bytes") }
        self.bytes = bytes
    }

    /// Parses a hex secret (the environment variable form).
    public init(hex: String) throws(EnclaveError) {
        guard let b = Hex.decode(hex.trimmingCharacters(in: .whitespacesAndNewlines)), b.count >= 32 else {
            throw EnclaveError(.platformSecret, "platform secret must be at least 64 hex characters")
        }
        try self.init(bytes: b)
    }

    /// Loads the secret file, creating it (0600, 32 random bytes as hex) if `create` and it does not exist.
    public static func load(path: String, create: Bool) throws(EnclaveError) -> PlatformSecret {
        var st = stat()
        if stat(path, &st) != 0 {
            guard create else { throw EnclaveError(.platformSecret, "platform secret file \(path) does not exist") }
            let text = Hex.encode(Sodium.randomBytes(32)) + "\n"
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard fd >= 0 else { throw EnclaveError(.platformSecret, "cannot create platform secret file \(path)") }
            let ok = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) == $0.count - 1 }
            let synced = fsync(fd) == 0
            close(fd)
            guard ok && synced else { throw EnclaveError(.platformSecret, "cannot write platform secret file \(path)") }
            return try load(path: path, create: false)
        }
        guard (st.st_mode & 0o077) == 0 else {
            throw EnclaveError(.platformSecret, "platform secret file \(path) is readable by group or others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw EnclaveError(.platformSecret, "cannot read platform secret file \(path)")
        }
        return try PlatformSecret(hex: text)
    }

    /// A purpose-bound key derived from the secret (keyed BLAKE2b over a context label).
    func derive(_ context: String, bytes count: Int = 32) -> [UInt8] {
        Sodium.blake2b(Array(context.utf8), key: Array(bytes.prefix(64)), outputBytes: count)
    }
}
