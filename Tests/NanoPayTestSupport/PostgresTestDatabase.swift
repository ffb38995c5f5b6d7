import Foundation
import NanoPayCore
import PostgresLedger

/// A database of its own for one test, on the throwaway cluster `scripts/test.sh` starts
/// (`NANOPAY_TEST_DATABASE_URL`). Without that variable the PostgreSQL tests fail: they are never
/// skipped silently.
public enum PostgresTestDatabase {
    public static let environmentKey = "NANOPAY_TEST_DATABASE_URL"

    public static func serverURL() throws -> DatabaseURL {
        guard let text = ProcessInfo.processInfo.environment[environmentKey] else {
            throw NanoPayError(.internalError, "\(environmentKey) is not set: run scripts/test.sh, or start a cluster with scripts/postgres-cluster.sh start DIR and export its URL")
        }
        return try DatabaseURL(parsing: text)
    }

    /// A new, empty database; `drop` it when done.
    public static func create() async throws -> DatabaseURL {
        let name = "np_test_" + Hex.encode(Sodium.randomBytes(6))
        return try await DatabaseAdmin.createDatabase(name, on: try serverURL())
    }

    /// Runs scripts/postgres-cluster.sh (a cluster of a test's own, for outages and TLS) with
    /// its output in a file, not a pipe: the server it starts outlives it and would hold a pipe open.
    public static func cluster(_ arguments: String...) throws -> (status: Int32, output: String) {
        let out = NSTemporaryDirectory() + "pg-cluster-" + Hex.encode(Sodium.randomBytes(6)) + ".out"
        FileManager.default.createFile(atPath: out, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["bash", TestBinaries.repositoryRoot.path + "/scripts/postgres-cluster.sh"] + arguments
        p.standardOutput = FileHandle(forWritingAtPath: out)
        p.standardError = FileHandle(forWritingAtPath: out)
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    /// The URL `cluster("start", …)` printed last.
    public static func url(fromClusterOutput output: String) throws -> DatabaseURL {
        try DatabaseURL(parsing: output.split(separator: "\n").last.map { String($0).trimmingCharacters(in: .whitespaces) } ?? "")
    }

    public static func drop(_ url: DatabaseURL) async {
        guard let server = try? serverURL() else { return }
        try? await DatabaseAdmin.dropDatabase(url.database, on: server)
    }
}

extension PostgresLedger.Configuration {
    /// For the shared suites: the whole test run shares two cores, and tests that wait on child
    /// processes can hold Swift's cooperative threads for seconds, so the timeouts that guard
    /// production calls are set well above any such stall (the outage tests set their own).
    public static func forTests(_ url: DatabaseURL, clock: any NanoClock) -> Self {
        .init(url: url, clock: clock, operationTimeoutMilliseconds: 60_000, probeTimeoutMilliseconds: 30_000)
    }
}
