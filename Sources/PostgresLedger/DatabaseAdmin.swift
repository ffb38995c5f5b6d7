import Logging
import NIOPosix
import NanoPayCore
import PostgresNIO

/// Creating and dropping whole databases: the tests and the bench each start on a database of
/// their own. nanopayd never calls it (an operator creates the database; nanopayd migrates it).
public enum DatabaseAdmin {
    /// Creates database `name` on the server `url` points at and returns its URL.
    public static func createDatabase(_ name: String, on url: DatabaseURL) async throws -> DatabaseURL {
        try await withConnection(url) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger)
        }
        return url.with(database: name)
    }

    public static func dropDatabase(_ name: String, on url: DatabaseURL) async throws {
        try await withConnection(url) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)"), logger: logger)
        }
    }

    /// A server setting as `SHOW` reports it (e.g. `synchronous_commit`, for the bench's report).
    public static func setting(_ name: String, on url: DatabaseURL) async throws -> String {
        guard name.allSatisfy({ $0.isLetter || $0 == "_" }) else { throw NanoPayError.invalid("not a setting name: \(name)") }
        return try await withConnection(url) { connection in
            for try await value in try await connection.query(PostgresQuery(unsafeSQL: "SHOW \(name)"), logger: logger).decode(String.self) {
                return value
            }
            return "?"
        }
    }

    /// One statement on its own connection (for checks that must not go through a ledger).
    public static func withConnection<T: Sendable>(_ url: DatabaseURL, _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let configuration = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.user, password: url.password,
                                                             database: url.database, tls: try url.connectionTLS)
        let connection = try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration,
                                                              id: 1, logger: logger).get()
        do {
            let value = try await body(connection)
            try await connection.close()
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static let logger = Logger(label: "nanopay.postgres.admin", factory: { _ in SwiftLogNoOpLogHandler() })
}
