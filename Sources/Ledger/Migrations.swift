import Foundation
import NanoPayCore

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
                try dataSteps[m.version]?(db)
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

    /// Data moves SQL cannot express (amounts are u128 BLOBs, receipts were JSON), run right after
    /// their version's SQL, inside the same transaction.
    static let dataSteps: [Int: @Sendable (SQLiteConnection) throws -> Void] = [5: moveReceiptsIntoPayments]

    /// Version 5: every receipt's facts go into its payment row; a receipt whose row nonce
    /// pruning had deleted gets its row back, not live (settled if a 'payment' transfer moved its
    /// money, else approved: a posted hold). Then the 'payment' transfers, which the rows now
    /// stand for, and the receipts table go.
    static func moveReceiptsIntoPayments(_ db: SQLiteConnection) throws {
        let receipts = try db.statement("SELECT body, created_at FROM receipts ORDER BY rowid")
        var facts: [(SettledPayment, Int64)] = []
        while try receipts.step() {
            // Stored unsigned, with network and asset; only the payment's facts move.
            guard let body = receipts.text(0), let receipt = try? JSONDecoder().decode(Receipt.self, from: Data(body.utf8)),
                  let settled = receipt.settledPayment else {
                throw LedgerError.storage("a stored receipt does not decode; refusing to migrate")
            }
            facts.append((settled, receipts.int(1)))
        }
        receipts.reset()
        let update = try db.statement("UPDATE payments SET remaining_balance = ?, confirmed_at = ? WHERE confirmation_id = ?")
        let hadTransfer = try db.statement("SELECT 1 FROM transfers WHERE kind = 'payment' AND reference = ? LIMIT 1")
        let insert = try db.statement("INSERT INTO payments (payer, nonce, payee, amount, valid_before, auth_digest, status, confirmation_id, served, created_at, remaining_balance, confirmed_at, live) VALUES (?,?,?,?,?,?,?,?,1,?,?,?,0)")
        for (p, createdAt) in facts {
            let cid = p.confirmationIdText
            try update.bind(1, p.remainingBalance).bind(2, Int64(clamping: p.confirmedAtSeconds)).bind(3, cid).run()
            guard db.changes == 0 else { continue }
            hadTransfer.bind(1, cid)
            let settled = try hadTransfer.step()
            hadTransfer.reset()
            try insert.bind(1, p.from.raw).bind(2, p.nonce).bind(3, p.to.raw).bind(4, p.amount).bind(5, Int64(clamping: p.validBefore))
                .bind(6, p.authorizationDigest).bind(7, settled ? "settled" : "approved").bind(8, cid).bind(9, createdAt)
                .bind(10, p.remainingBalance).bind(11, Int64(clamping: p.confirmedAtSeconds)).run()
        }
        // The one sanctioned delete of movements: these rows live on as payment rows.
        try db.execute("DROP TRIGGER transfers_no_delete")
        try db.execute("DELETE FROM transfers WHERE kind = 'payment'")
        try db.execute("CREATE TRIGGER transfers_no_delete BEFORE DELETE ON transfers BEGIN SELECT RAISE(ABORT, 'transfers are immutable'); END")
        try db.execute("DROP TABLE receipts")
    }
}
