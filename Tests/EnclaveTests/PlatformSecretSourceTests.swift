import Enclave
import Foundation
import NanoPayCore
import NanoPayTestSupport
import Testing

/// The platform secret lives outside DATA, and a copy of DATA alone never starts an enclave.
@Suite struct PlatformSecretSourceTests {
    func enclaveKey(_ secret: PlatformSecret, data: String) throws -> [UInt8] {
        try Enclave(.init(directory: data + "/enclave", secret: secret, clock: SystemClock())).publicKey
    }

    @Test func firstStartCreatesTheSecretOutsideDataAndACopyOfDataAloneIsRefused() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let data = dir.path + "/data", home1 = dir.path + "/home1", home2 = dir.path + "/home2"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let path1 = try #require(PlatformSecretSource.defaultPath(environment: ["HOME": home1]))
        #expect(path1 == home1 + "/.config/cybernanopay/platform.secret")
        var notes: [String] = []
        let key = try enclaveKey(try PlatformSecretSource(origin: .file(path: path1), dataDirectory: data).resolve { notes.append($0) }, data: data)
        #expect(FileManager.default.fileExists(atPath: path1) && !FileManager.default.fileExists(atPath: data + "/platform.secret"))
        #expect(notes.count == 1 && notes[0].contains("generated"))
        // The same HOME starts the same identity.
        #expect(try enclaveKey(try PlatformSecretSource(origin: .file(path: path1), dataDirectory: data).resolve { _ in }, data: data) == key)
        // A copy of DATA under another HOME: refused, and no second identity is made.
        let sealed = try Data(contentsOf: URL(fileURLWithPath: data + "/enclave/identity.sealed"))
        let path2 = try #require(PlatformSecretSource.defaultPath(environment: ["HOME": home2]))
        #expect {
            _ = try PlatformSecretSource(origin: .file(path: path2), dataDirectory: data).resolve { _ in }
        } throws: { error in
            (error as? EnclaveError)?.kind == .platformSecret && "\(error)".contains("copy of DATA")
        }
        #expect(!FileManager.default.fileExists(atPath: path2))
        #expect(try Data(contentsOf: URL(fileURLWithPath: data + "/enclave/identity.sealed")) == sealed)
    }

    @Test func aSecretInsideDataIsMovedOutOnFirstStart() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let data = dir.path + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let legacy = try PlatformSecret.create(path: data + "/platform.secret")
        let key = try enclaveKey(legacy, data: data)
        let target = dir.path + "/config/cybernanopay/platform.secret"
        var notes: [String] = []
        let moved = try PlatformSecretSource(origin: .file(path: target), dataDirectory: data).resolve { notes.append($0) }
        #expect(try enclaveKey(moved, data: data) == key, "the moved secret unseals the same identity")
        #expect(!FileManager.default.fileExists(atPath: data + "/platform.secret"))
        #expect(try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int == 0o600)
        #expect(notes.count == 1 && notes[0].contains("moved"))
    }

    @Test func aSecretFileInsideDataOrAConflictingLegacyCopyIsRefused() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let data = dir.path + "/data"
        try FileManager.default.createDirectory(atPath: data + "/sub", withIntermediateDirectories: true)
        #expect(throws: EnclaveError.self) {
            _ = try PlatformSecretSource(origin: .file(path: data + "/sub/../secret"), dataDirectory: data).resolve { _ in }
        }
        _ = try PlatformSecret.create(path: data + "/platform.secret")
        #expect(throws: EnclaveError.self) {
            _ = try PlatformSecretSource(origin: .hex(String(repeating: "ab", count: 32)), dataDirectory: data).resolve { _ in }
        }
        #expect(FileManager.default.fileExists(atPath: data + "/platform.secret"), "a conflicting secret is left for the operator to choose")
    }

    @Test func secretTypesPrintRedacted() throws {
        let secret = try PlatformSecret(hex: String(repeating: "5a", count: 32))
        for text in ["\(secret)", String(describing: secret), String(reflecting: secret), { var s = ""; dump(secret, to: &s); return s }()] {
            #expect(!text.contains("5a5a") && !text.contains("90, 90") && text.contains("redacted"), "\(text)")
        }
        let pair = Ed25519KeyPair(seed: [UInt8](repeating: 0x5a, count: 32))
        var dumped = ""; dump(pair, to: &dumped)
        for text in ["\(pair)", String(reflecting: pair), dumped] {
            #expect(!text.contains("90, 90") && !text.contains("5a5a5a") && text.contains(Hex.encode(pair.publicKey)), "\(text)")
        }
    }
}
