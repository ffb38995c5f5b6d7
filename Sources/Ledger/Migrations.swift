/// Schema migrations: the numbered SQL files of the top-level `migrations/` folder, embedded at
/// build time (`scripts/embed-migrations.sh`). Applied in order at start-up inside one
/// transaction and recorded in `schema_migrations`; a database from a newer schema is refused.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String
}

enum Migrations {
    static var latestVersion: Int { embedded.map(\.version).max() ?? 0 }

    static func apply(_ db: SQLiteConnection, nowMilliseconds: UInt64) throws -> Int {
        try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
        let current = Int(try db.scalarInt("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") ?? 0)
        guard current <= latestVersion else {
            throw LedgerError.schemaTooNew(database: current, supported: latestVersion)
        }
        let pending = embedded.filter { $0.version > current }.sorted { $0.version < $1.version }
        guard !pending.isEmpty else { return current }
        try db.execute("BEGIN IMMEDIATE")
        do {
            for m in pending {
                try db.execute(m.sql)
                try db.statement("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
                    .bind(1, Int64(m.version)).bind(2, m.name).bind(3, nowMilliseconds).run()
            }
            db.resetActiveStatements()
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
        return latestVersion
    }
}
