import Foundation
import Testing

/// The layers of docs/ARCHITECTURE.md, enforced on the sources: each module may import only the
/// project modules listed for it. Above all, nothing but nanopayd (which wires things together)
/// and the bench may import the storage engine, and the client side never sees the server side.
@Suite struct LayeringTests {
    static let allowed: [String: Set<String>] = [
        "NanoPayCore": ["CSodium", "CNanoPayOpenSSL"],
        "DecoderChecks": ["NanoPayCore"],
        "Enclave": ["NanoPayCore", "CSodium", "CNanoPayOpenSSL"],
        "Ledger": ["NanoPayCore", "CSQLite", "CNanoPayStorageVFS"],
        // The replicated engine: like Ledger, it sees the domain and nothing above it.
        "PostgresLedger": ["NanoPayCore"],
        "NanoPayService": ["NanoPayCore", "Enclave"],
        "NanoPayHTTP": ["NanoPayCore", "NanoPayService"],
        "nanopayd": ["NanoPayCore", "Enclave", "Ledger", "PostgresLedger", "NanoPayService", "NanoPayHTTP"],
        "NanoPayClient": ["NanoPayCore"],
        "NanoPaySeller": ["NanoPayCore", "NanoPayClient"],
        "nanopay-example-seller": ["NanoPayCore", "NanoPayClient", "NanoPaySeller"],
        "nanopay": ["NanoPayCore", "NanoPayClient"],
        "nanopay-bench": ["NanoPayCore", "Enclave", "Ledger", "PostgresLedger", "CSQLite", "CSodium"],
        // The gateway is a client of nanopayd, over HTTP only: the seller's side, never the server's.
        "NanoPayGateway": ["NanoPayCore", "NanoPayClient", "NanoPaySeller"],
        "nanopay-gateway": ["NanoPayCore", "NanoPayClient", "NanoPayGateway"],
    ]

    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    /// Project module names, as `import` spells them.
    static var projectModules: Set<String> {
        let dirs = (try? FileManager.default.contentsOfDirectory(atPath: sources.path)) ?? []
        return Set(dirs.map { $0.replacingOccurrences(of: "-", with: "_") })
    }

    static func imports(of module: String) throws -> [(file: String, module: String)] {
        let dir = sources.appendingPathComponent(module)
        guard let walker = FileManager.default.enumerator(atPath: dir.path) else { return [] }
        var found: [(String, String)] = []
        for case let path as String in walker where path.hasSuffix(".swift") {
            let text = try String(contentsOf: dir.appendingPathComponent(path), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                // `import X`, `@_exported import X`, `@testable import X`, `import struct X.Y`
                guard let i = words.firstIndex(of: "import"), i + 1 < words.count else { continue }
                guard words[..<i].allSatisfy({ $0.hasPrefix("@") || ["public", "internal", "package"].contains($0) }) else { continue }
                var name = String(words[i + 1])
                if ["struct", "class", "enum", "protocol", "func", "var", "typealias"].contains(name), i + 2 < words.count {
                    name = String(words[i + 2].split(separator: ".").first ?? "")
                }
                found.append((path, name))
            }
        }
        return found
    }

    @Test func everyModuleImportsOnlyTheLayersBelowIt() throws {
        let project = Self.projectModules
        let dirs = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path)
        for module in dirs where !module.hasPrefix("C") {
            let allowed = try #require(Self.allowed[module], "module \(module) has no entry in LayeringTests.allowed: add it, with its layer")
            for (file, imported) in try Self.imports(of: module) where project.contains(imported) && imported != module {
                #expect(allowed.contains(imported), "\(module)/\(file) imports \(imported), which is not below it")
            }
        }
    }

    @Test func httpAndTheServiceNeverSeeTheStorageEngine() throws {
        for module in ["NanoPayHTTP", "NanoPayService", "NanoPayClient", "NanoPaySeller", "NanoPayGateway"] {
            for (file, imported) in try Self.imports(of: module) {
                #expect(imported != "Ledger" && imported != "CSQLite", "\(module)/\(file) imports \(imported)")
            }
        }
    }
}
