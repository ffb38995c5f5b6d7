import NanoPayCore
import PostgresNIO

extension PostgresLedger {
    /// The embedded engine's invariant check (`Ledger.checkInvariants`), in SQL: every balance
    /// rebuilt from the immutable movements (transfers and settled payment rows) and compared
    /// with the stored one; available + held + spent + withdrawn = deposited + received;
    /// Σ spent = Σ received; held = Σ pending holds per payer; every posted payment has its
    /// receipt's facts. numeric does not overflow, so the sums are exact.
    public func checkInvariants() async throws -> InvariantReport {
        let logger = self.logger
        return try await withTransaction { connection in
            try await connection.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger: logger)
            var report = InvariantReport()
            for try await (accounts, transfers) in try await connection.send("""
                SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM transfers) + (SELECT count(*) FROM payments WHERE status = 'settled')
                """, logger: logger).decode((Int64, Int64).self) {
                report.accounts = Int(accounts); report.transfers = Int(transfers)
            }
            for try await address in try await connection.send("""
                WITH moves (addr, dep, wd, paid, posted, recv, held_in, held_out, released) AS (
                    SELECT credit_account, amount, 0, 0, 0, 0, 0, 0, 0 FROM transfers WHERE kind = 'deposit'
                    UNION ALL SELECT debit_account, 0, amount, 0, 0, 0, 0, 0, 0 FROM transfers WHERE kind = 'withdrawal'
                    UNION ALL SELECT debit_account, 0, 0, 0, 0, 0, amount, 0, 0 FROM transfers WHERE kind = 'hold'
                    UNION ALL SELECT debit_account, 0, 0, 0, amount, 0, 0, amount, 0 FROM transfers WHERE kind = 'post'
                    UNION ALL SELECT credit_account, 0, 0, 0, 0, amount, 0, 0, 0 FROM transfers WHERE kind = 'post'
                    UNION ALL SELECT debit_account, 0, 0, 0, 0, 0, 0, amount, amount FROM transfers WHERE kind IN ('void', 'expire')
                    UNION ALL SELECT payer, 0, 0, amount, 0, 0, 0, 0, 0 FROM payments WHERE status = 'settled'
                    UNION ALL SELECT payee, 0, 0, 0, 0, amount, 0, 0, 0 FROM payments WHERE status = 'settled'),
                flows AS (SELECT addr, sum(dep) dep, sum(wd) wd, sum(paid) paid, sum(posted) posted, sum(recv) recv,
                                 sum(held_in) held_in, sum(held_out) held_out, sum(released) released FROM moves GROUP BY addr)
                SELECT coalesce(a.address, f.addr) FROM accounts a FULL JOIN flows f ON f.addr = a.address
                 WHERE a.address IS NULL
                    OR a.total_deposited <> coalesce(f.dep, 0) OR a.total_withdrawn <> coalesce(f.wd, 0)
                    OR a.total_spent <> coalesce(f.paid, 0) + coalesce(f.posted, 0) OR a.total_received <> coalesce(f.recv, 0)
                    OR a.held + coalesce(f.held_out, 0) <> coalesce(f.held_in, 0)
                    OR a.available + coalesce(f.paid, 0) + coalesce(f.wd, 0) + coalesce(f.held_in, 0)
                       <> coalesce(f.dep, 0) + coalesce(f.recv, 0) + coalesce(f.released, 0)
                    OR a.available + a.held + a.total_spent + a.total_withdrawn <> a.total_deposited + a.total_received
                """, logger: logger).decode(String.self) {
                report.violations.append("account \(address): stored balance does not follow from its movements (or has no row)")
            }
            for try await (spentEqualsReceived, heldMatches, unreceipted) in try await connection.send("""
                SELECT (SELECT coalesce(sum(total_spent), 0) = coalesce(sum(total_received), 0) FROM accounts),
                       NOT EXISTS (SELECT 1 FROM accounts a FULL JOIN
                                     (SELECT payer, sum(amount) pending FROM approvals WHERE status = 'pending' GROUP BY payer) h ON h.payer = a.address
                                    WHERE coalesce(a.held, 0) <> coalesce(h.pending, 0)),
                       (SELECT count(*) FROM payments WHERE status IN ('settled','approved')
                           AND (confirmation_id IS NULL OR remaining_balance IS NULL OR confirmed_at IS NULL))
                """, logger: logger).decode((Bool, Bool, Int64).self) {
                if !spentEqualsReceived { report.violations.append("Σ spent != Σ received") }
                if !heldMatches { report.violations.append("held balances do not equal the pending holds") }
                if unreceipted != 0 { report.violations.append("\(unreceipted) posted payments have no receipt") }
            }
            return report
        }
    }
}
