import CSodium
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where nanopayd finds its platform secret, and the rules that keep it out of the data
/// directory. A copy of DATA (a backup, a disk image) must not be the enclave, so:
///
/// - The secret comes from `NANOPAY_PLATFORM_SECRET` (hex), from a file the operator names, or
///   by default from `$XDG_CONFIG_HOME/cybernanopay/platform.secret` (`~/.config/...`), and
///   never from a path inside DATA.
/// - A `DATA/platform.secret` left by an older version is moved to that location on first start
///   (or deleted if that location already holds the same secret; a different one is an error).
/// - If no secret exists but DATA holds a sealed identity, start-up is refused: that is a copy
///   of DATA on another machine, or a lost secret, and a new identity is never made over it.
public struct PlatformSecretSource: Sendable {
    public enum Origin: Sendable, Equatable {
        /// Hex in an environment variable (already read; the variable is cleared by the caller).
        case hex(String)
        case file(path: String)
    }

    public var origin: Origin
    public var dataDirectory: String

    public init(origin: Origin, dataDirectory: String) { self.origin = origin; self.dataDirectory = dataDirectory }

    /// The default file: `$XDG_CONFIG_HOME/cybernanopay/platform.secret`, else
    /// `$HOME/.config/cybernanopay/platform.secret`. Nil if neither variable is set.
    public static func defaultPath(environment: [String: String]) -> String? {
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") { return xdg + "/cybernanopay/platform.secret" }
        if let home = environment["HOME"], !home.isEmpty { return home + "/.config/cybernanopay/platform.secret" }
        return nil
    }

    /// The legacy location, inside DATA.
    public var legacyPath: String { dataDirectory + "/platform.secret" }
    var sealedIdentityPath: String { dataDirectory + "/enclave/identity.sealed" }

    /// Loads (or on a first start creates) the secret. `notes` receives what an operator should
    /// read in the log (a move, a creation); never secret bytes.
    public func resolve(notes: (String) -> Void) throws(EnclaveError) -> PlatformSecret {
        let legacy = FileManager.default.fileExists(atPath: legacyPath)
        switch origin {
        case .hex(let hex):
            let secret = try PlatformSecret(hex: hex)
            if legacy { try retireLegacy(keeping: secret, at: "NANOPAY_PLATFORM_SECRET", notes: notes) }
            return secret
        case .file(let path):
            guard !Self.isInside(path, directory: dataDirectory) else {
                throw EnclaveError(.platformSecret, "the platform secret file \(path) is inside the data directory \(dataDirectory); keep it elsewhere (a copy of DATA must not be able to unseal the identity)")
            }
            if FileManager.default.fileExists(atPath: path) {
                let secret = try PlatformSecret.load(path: path)
                if legacy { try retireLegacy(keeping: secret, at: path, notes: notes) }
                return secret
            }
            if legacy {
                try Self.makeParent(of: path)
                try move(legacyPath, to: path)
                notes("moved the platform secret out of the data directory: \(legacyPath) -> \(path)")
                return try PlatformSecret.load(path: path)
            }
            guard !FileManager.default.fileExists(atPath: sealedIdentityPath) else {
                throw EnclaveError(.platformSecret, "the data directory holds a sealed identity (\(sealedIdentityPath)) but there is no platform secret at \(path); refusing to start. A copy of DATA alone does not unseal the enclave: give the original secret (NANOPAY_PLATFORM_SECRET or --platform-secret-file). No new identity is made over an existing one.")
            }
            try Self.makeParent(of: path)
            let secret = try PlatformSecret.create(path: path)
            notes("generated a platform secret at \(path) (keep it, and keep it apart from backups of the data directory)")
            return secret
        }
    }

    /// DATA/platform.secret next to a secret from elsewhere: the same secret is deleted from
    /// DATA; a different one means two candidate secrets, and the operator must choose.
    func retireLegacy(keeping secret: PlatformSecret, at location: String, notes: (String) -> Void) throws(EnclaveError) {
        let old = try PlatformSecret.load(path: legacyPath)
        guard old.isEqual(to: secret) else {
            throw EnclaveError(.platformSecret, "\(legacyPath) holds a different platform secret than \(location); remove the one that is not in use (the data directory must not hold a secret)")
        }
        guard unlink(legacyPath) == 0 else { throw EnclaveError(.platformSecret, "cannot remove \(legacyPath)") }
        SealedIdentity.fsyncDirectory(of: legacyPath)
        notes("removed \(legacyPath): the same platform secret is at \(location), outside the data directory")
    }

    /// Moves a file across directories (and file systems): copy, fsync, then remove the source.
    func move(_ from: String, to: String) throws(EnclaveError) {
        if rename(from, to) == 0 {
            SealedIdentity.fsyncDirectory(of: to)
            SealedIdentity.fsyncDirectory(of: from)
            return
        }
        var bytes = try PlatformSecret.readFile(from)
        defer { sodium_memzero(&bytes, bytes.count) }
        try PlatformSecret.writeNew(path: to, bytes: bytes)
        guard unlink(from) == 0 else { throw EnclaveError(.platformSecret, "copied the platform secret to \(to) but cannot remove \(from)") }
        SealedIdentity.fsyncDirectory(of: from)
    }

    static func makeParent(of path: String) throws(EnclaveError) {
        let dir = (path as NSString).deletingLastPathComponent
        guard !dir.isEmpty else { return }
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
            throw EnclaveError(.platformSecret, "cannot create \(dir) for the platform secret")
        }
    }

    /// Whether `path` lies inside `directory`, comparing absolute, symlink-resolved paths.
    static func isInside(_ path: String, directory: String) -> Bool {
        func absolute(_ p: String) -> String {
            let full = p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
            // Resolve what exists (the directory, or the file's parent) so symlinks can't hide DATA.
            let url = URL(fileURLWithPath: full).standardizedFileURL
            let resolved = FileManager.default.fileExists(atPath: url.path)
                ? url.resolvingSymlinksInPath()
                : url.deletingLastPathComponent().resolvingSymlinksInPath().appendingPathComponent(url.lastPathComponent)
            return resolved.path
        }
        let dir = absolute(directory), file = absolute(path)
        return file == dir || file.hasPrefix(dir.hasSuffix("/") ? dir : dir + "/")
    }
}
