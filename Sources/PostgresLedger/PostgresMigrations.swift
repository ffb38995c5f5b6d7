import Foundation
import Logging
import NanoPayCore
import PostgresNIO

/// Applies `migrations/postgres/NNNN_*.sql` (embedded: `PostgresMigrations+Embedded.swift`) in
/// order, each in its own transaction, under a session advisory lock: replicas starting together
/// wait for each other and the second finds the work done. A database whose schema is newer than
/// this binary knows is refused: an old replica must not write to a schema it does not understand.
enum PostgresMigrations {
    /// Any fixed 64-bit number; only nanopayd takes this advisory lock.
    static let advisoryLockKey: Int64 = 0x4E50_4D49_4752_0001

    struct Migration: Sendable {
        var version: Int
        var name: String
        var sql: String
    }

    static var latestVersion: Int { embedded.map(\.version).max() ?? 0 }

    /// Returns the schema version after applying. Waits (polling, at most `lockWaitSeconds`) while
    /// another replica holds the lock; the statements themselves run without the session's
    /// statement timeout, which is sized for payments, not for schema changes.
    static func apply(_ connection: PostgresConnection, nowMilliseconds: UInt64, logger: Logger, lockWaitSeconds: Int = 120) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(lockWaitSeconds)
        while true {
            var locked = false
            for try await got in try await connection.send("SELECT pg_try_advisory_lock(\(advisoryLockKey))", logger: logger).decode(Bool.self) {
                locked = got
            }
            if locked { break }
            guard ContinuousClock.now < deadline else {
                throw NanoPayError(.storageUnavailable, "another replica has been migrating the database for over \(lockWaitSeconds) s")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        do {
            try await connection.run("SET statement_timeout = 0", logger: logger)
            let version = try await applyLocked(connection, nowMilliseconds: nowMilliseconds, logger: logger)
            try await connection.run("RESET statement_timeout", logger: logger)
            try await connection.run("SELECT pg_advisory_unlock(\(advisoryLockKey))", logger: logger)
            return version
        } catch {
            try? await connection.run("RESET statement_timeout", logger: logger)
            try? await connection.run("SELECT pg_advisory_unlock(\(advisoryLockKey))", logger: logger)
            throw error
        }
    }

    private static func applyLocked(_ connection: PostgresConnection, nowMilliseconds: UInt64, logger: Logger) async throws -> Int {
        try await run(connection, "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)", logger)
        var current = 0
        for try await version in try await connection.send("SELECT coalesce(max(version), 0)::bigint FROM schema_migrations", logger: logger).decode(Int64.self) {
            current = Int(version)
        }
        guard current <= latestVersion else {
            throw NanoPayError(.internalError, "the database's schema is at version \(current), newer than this nanopayd knows (\(latestVersion)); upgrade nanopayd before pointing it at this database")
        }
        for migration in embedded.sorted(by: { $0.version < $1.version }) where migration.version > current {
            // One transaction per file: a migration is wholly applied or not at all.
            try await run(connection, "BEGIN", logger)
            do {
                for statement in statements(migration.sql) { try await run(connection, statement, logger) }
                try await connection.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(migration.version), \(migration.name), \(Int64(nowMilliseconds)))", logger: logger)
                try await run(connection, "COMMIT", logger)
            } catch {
                try? await run(connection, "ROLLBACK", logger)
                throw error
            }
            logger.info("applied PostgreSQL migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            current = migration.version
        }
        return current
    }

    private static func run(_ connection: PostgresConnection, _ sql: String, _ logger: Logger) async throws {
        try await connection.run(PostgresQuery(unsafeSQL: sql), logger: logger)
    }

    /// Splits a migration file into statements: on `;` outside quotes, `$$` bodies and comments
    /// (PostgreSQL's extended protocol takes one statement at a time). Migrations use only the
    /// plain `$$` dollar quote.
    static func statements(_ sql: String) -> [String] {
        var out: [String] = []
        var current = ""
        var inQuote = false, inDollar = false, inComment = false
        let chars = Array(sql)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            let next: Character? = i + 1 < chars.count ? chars[i + 1] : nil
            if inComment {
                if c == "\n" { inComment = false }
                current.append(c); i += 1; continue
            }
            if !inQuote && !inDollar && c == "-" && next == "-" { inComment = true; current.append(c); i += 1; continue }
            if !inDollar && c == "'" { inQuote.toggle() }
            if !inQuote && c == "$" && next == "$" { inDollar.toggle(); current.append("$$"); i += 2; continue }
            if !inQuote && !inDollar && c == ";" {
                let trimmed = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !trimmed.isEmpty && !trimmed.split(separator: "\n").allSatisfy({ $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }) {
                    out.append(trimmed)
                }
                current = ""; i += 1; continue
            }
            current.append(c); i += 1
        }
        let rest = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !rest.isEmpty && !rest.split(separator: "\n").allSatisfy({ $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }) { out.append(rest) }
        return out
    }
}
