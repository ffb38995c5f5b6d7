import Enclave
import Foundation
import Ledger
import Logging
import NanoPayCore
import NanoPayService
import PostgresLedger

/// The storage engines the shared suites run against (`@Test(arguments: LedgerEngine.allCases)`).
public enum LedgerEngine: String, CaseIterable, Sendable {
    /// Embedded SQLite in the fixture's directory.
    case sqlite
    /// PostgreSQL, a database of its own per fixture (`PostgresTestDatabase`).
    case postgres
}

/// A fresh directory under /tmp, removed by `remove()`.
public struct TempDirectory: Sendable {
    public let path: String
    public init() {
        path = NSTemporaryDirectory() + "nanopay-test-" + Hex.encode(Sodium.randomBytes(8))
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A buyer with a real Ed25519 key and a TON address.
public struct Buyer: Sendable {
    public let keys: Ed25519KeyPair
    public let address: TONAddress
    public init(index: Int) {
        var seed = [UInt8](repeating: 0, count: 32)
        seed[0] = UInt8(index & 0xff); seed[1] = UInt8((index >> 8) & 0xff); seed[31] = 0x42
        keys = Ed25519KeyPair(seed: seed)
        address = TONAddress(workchain: 0, hash: Sodium.sha256(Array("buyer-\(index)".utf8)))
    }
}

public func sellerAddress(_ index: Int = 0) -> TONAddress {
    TONAddress(workchain: 0, hash: Sodium.sha256(Array("seller-\(index)".utf8)))
}

/// The real stack on a real SQLite file with a manual clock: enclave, ledger, service.
public final class Fixture: @unchecked Sendable {
    public static let startMilliseconds: UInt64 = 1_795_000_000_000
    public let directory: TempDirectory
    public let clock: ManualClock
    public let secret: PlatformSecret
    public let enclave: Enclave
    /// The engine behind the service, whichever it is.
    public private(set) var store: any LedgerStore
    public private(set) var service: PaymentService
    public let configuration: ServiceConfiguration
    public let engine: LedgerEngine
    /// The PostgreSQL database of this fixture (dropped by `close`).
    public let databaseURL: DatabaseURL?

    /// The SQLite engine, for the tests that use what only it has (crash points, storage faults).
    public var ledger: Ledger {
        guard let ledger = store as? Ledger else { preconditionFailure("this test needs the SQLite engine") }
        return ledger
    }

    public init(configuration: ServiceConfiguration = ServiceConfiguration(), directory: TempDirectory = TempDirectory()) throws {
        self.directory = directory
        self.configuration = configuration
        engine = .sqlite
        databaseURL = nil
        clock = ManualClock(milliseconds: Self.startMilliseconds)
        secret = try PlatformSecret(bytes: [UInt8](repeating: 7, count: 32))
        enclave = try Enclave(.init(directory: directory.path + "/enclave", secret: secret, clock: clock))
        store = try Self.openLedger(directory: directory, clock: clock, enclave: enclave, configuration: configuration)
        service = try PaymentService(configuration: configuration, ledger: store, enclave: enclave, clock: clock, logger: Logger(label: "test"))
    }

    private init(configuration: ServiceConfiguration, directory: TempDirectory, clock: ManualClock, postgres: PostgresLedger, url: DatabaseURL) throws {
        self.directory = directory
        self.configuration = configuration
        self.clock = clock
        engine = .postgres
        databaseURL = url
        secret = try PlatformSecret(bytes: [UInt8](repeating: 7, count: 32))
        enclave = try Enclave(.init(directory: directory.path + "/enclave", secret: secret, clock: clock))
        store = postgres
        service = try PaymentService(configuration: configuration, ledger: store, enclave: enclave, clock: clock, logger: Logger(label: "test"))
    }

    /// The real stack on `engine`: for PostgreSQL, on a new database of its own.
    public static func make(_ engine: LedgerEngine, configuration: ServiceConfiguration = ServiceConfiguration()) async throws -> Fixture {
        switch engine {
        case .sqlite:
            return try Fixture(configuration: configuration)
        case .postgres:
            let url = try await PostgresTestDatabase.create()
            let clock = ManualClock(milliseconds: Self.startMilliseconds)
            do {
                let postgres = try await PostgresLedger.open(.forTests(url, clock: clock))
                return try Fixture(configuration: configuration, directory: TempDirectory(), clock: clock, postgres: postgres, url: url)
            } catch {
                await PostgresTestDatabase.drop(url)
                throw error
            }
        }
    }

    /// The invariant check of whichever engine this is.
    public func checkInvariants() async throws -> InvariantReport { try await NanoPayTestSupport.checkInvariants(store) }

    static func openLedger(directory: TempDirectory, clock: ManualClock, enclave: Enclave, configuration: ServiceConfiguration) throws -> Ledger {
        try Ledger(.init(path: directory.path + "/ledger.sqlite", clock: clock))
    }

    /// Closes the store and opens it again from disk (a clean restart).
    public func reopen() throws {
        ledger.close()
        store = try Self.openLedger(directory: directory, clock: clock, enclave: enclave, configuration: configuration)
        service = try PaymentService(configuration: configuration, ledger: store, enclave: enclave, clock: clock, logger: Logger(label: "test"))
    }

    /// Closes the store and removes its files (for PostgreSQL: drops its database, in the
    /// background; `closeAndDrop` waits for it).
    public func close() {
        store.close()
        directory.remove()
        if let databaseURL { Task { await PostgresTestDatabase.drop(databaseURL) } }
    }

    public var nowSeconds: UInt64 { clock.nowSeconds() }

    /// Deposits for a buyer, registering its key.
    @discardableResult
    public func fund(_ buyer: Buyer, _ amount: Amount, reference: String? = nil) async throws -> AccountBalance {
        try await store.deposit(address: buyer.address, amount: amount, publicKey: buyer.keys.publicKey,
                                 reference: reference ?? "dep-\(Hex.encode(Sodium.randomBytes(8)))")
    }

    public func authorization(_ buyer: Buyer, to: TONAddress = sellerAddress(), amount: UInt128, validFor: UInt64 = 300,
                              nonce: [UInt8] = Sodium.randomBytes(32), version: PaymentAuthorization.Version = .v1) -> AuthorizationFields {
        let domain: PaymentAuthorization.Domain? = version == .v2 ? service.domain : nil
        let auth = PaymentAuthorization.sign(keyPair: buyer.keys, from: buyer.address, to: to, amount: Amount(amount),
                                             validBefore: nowSeconds + validFor, nonce: nonce, version: version, domain: domain)
        return AuthorizationFields(auth)
    }
}

/// Executables built by this package, found next to the test binary (or in .build/debug).
public enum TestBinaries {
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func path(_ name: String) -> String {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
        return FileManager.default.isExecutableFile(atPath: besideTests) ? besideTests : repositoryRoot.appendingPathComponent(".build/debug/\(name)").path
    }
}

/// Runs a program to completion and returns its exit status and its output (stdout and stderr
/// together). `executable` is a path, or a name looked up in PATH (through /usr/bin/env).
public func runProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    if executable.hasPrefix("/") {
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
    } else {
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [executable] + arguments
    }
    let pipe = Pipe()
    p.standardOutput = pipe; p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A second replica of a PostgreSQL fixture: its own engine (own pool, key cache, group commit
/// and writer id) on the same database, and its own service with the same enclave identity.
public struct Replica: Sendable {
    public let store: PostgresLedger
    public let service: PaymentService

    public init(of fixture: Fixture) async throws {
        guard let url = fixture.databaseURL else { preconditionFailure("replicas share a PostgreSQL database") }
        store = try await PostgresLedger.open(.forTests(url, clock: fixture.clock))
        service = try PaymentService(configuration: fixture.configuration, ledger: store, enclave: fixture.enclave, clock: fixture.clock,
                                     logger: Logger(label: "replica"))
    }

    public func close() { store.close() }
}

/// The invariant check of whichever engine `store` is (the check is each engine's own, not part
/// of `LedgerStore`).
public func checkInvariants(_ store: any LedgerStore) async throws -> InvariantReport {
    switch store {
    case let ledger as Ledger: return try ledger.checkInvariants()
    case let postgres as PostgresLedger: return try await postgres.checkInvariants()
    default: preconditionFailure("unknown engine")
    }
}
