import CSQLite
import NanoPayCore

/// The writer's view of one group transaction. Confined to the writer thread; every op of a
/// batch sees the same `nowMilliseconds`.
public final class LedgerTransaction: @unchecked Sendable {
    let db: SQLiteConnection
    public let nowMilliseconds: UInt64
    let configuration: Ledger.Configuration
    var totals: LedgerTotals
    /// Accounts this batch changed, written once each at the end (`flushAccounts`).
    private var pendingAccounts: [String: AccountRow] = [:]
    /// The current op's previous account states (nil inside: the op created the pending entry).
    private var opUndo: [String: AccountRow?] = [:]

    init(db: SQLiteConnection, nowMilliseconds: UInt64, configuration: Ledger.Configuration, totals: LedgerTotals) {
        self.db = db; self.nowMilliseconds = nowMilliseconds; self.configuration = configuration; self.totals = totals
    }

    var now: Int64 { Int64(nowMilliseconds) }

    // MARK: Accounts

    struct AccountRow {
        var address: TONAddress
        var publicKey: [UInt8]?
        var balance: AccountBalance
        var isNew: Bool
    }

    /// The account as this transaction sees it: this batch's pending version if an op already
    /// touched it, else the committed row.
    func account(_ address: TONAddress) throws -> AccountRow? {
        if let pending = pendingAccounts[address.raw] { return pending }
        let s = try db.statement("SELECT public_key, available, held, total_deposited, total_spent, total_received, total_withdrawn FROM accounts WHERE address = ?")
        s.bind(1, address.raw)
        guard try s.step() else { return nil }
        let row = AccountRow(address: address, publicKey: s.blob(0), balance: AccountBalance(
            address: address, available: amount(s, 1), held: amount(s, 2), totalDeposited: amount(s, 3),
            totalSpent: amount(s, 4), totalReceived: amount(s, 5), totalWithdrawn: amount(s, 6)), isNew: false)
        s.reset()
        return row
    }

    func accountOrNew(_ address: TONAddress) throws -> AccountRow {
        try account(address) ?? AccountRow(address: address, publicKey: nil, balance: .empty(address), isNew: true)
    }

    /// Records the account's new state for this batch. Rows are written once per account per
    /// group commit (`flushAccounts`), not once per payment: a popular payee credited by 500
    /// payments in one batch costs one UPDATE, not 500.
    func save(_ row: AccountRow) throws {
        let key = row.address.raw
        if opUndo[key] == nil { opUndo[key] = .some(pendingAccounts[key]) }
        pendingAccounts[key] = row
    }

    // MARK: Per-op undo of the batch's account states

    /// Starts an op: its account changes can be undone alone (its savepoint is rolled back).
    func beginOp() { opUndo.removeAll(keepingCapacity: true) }

    /// Undoes the account changes of the op that just failed (or was a dry run).
    func rollbackOp() {
        for (address, previous) in opUndo {
            if let previous { pendingAccounts[address] = previous } else { pendingAccounts[address] = nil }
        }
        opUndo.removeAll(keepingCapacity: true)
    }

    /// Writes every account the batch changed, once each, before the commit.
    func flushAccounts() throws {
        for row in pendingAccounts.values {
            let b = row.balance
            if row.isNew {
                try db.statement("INSERT INTO accounts (address, public_key, available, held, total_deposited, total_spent, total_received, total_withdrawn, created_at) VALUES (?,?,?,?,?,?,?,?,?)")
                    .bind(1, row.address.raw).bind(2, row.publicKey).bind(3, b.available).bind(4, b.held)
                    .bind(5, b.totalDeposited).bind(6, b.totalSpent).bind(7, b.totalReceived)
                    .bind(8, b.totalWithdrawn).bind(9, now).run()
                totals.accounts += 1
            } else {
                try db.statement("UPDATE accounts SET public_key = ?, available = ?, held = ?, total_deposited = ?, total_spent = ?, total_received = ?, total_withdrawn = ? WHERE address = ?")
                    .bind(1, row.publicKey).bind(2, b.available).bind(3, b.held)
                    .bind(4, b.totalDeposited).bind(5, b.totalSpent).bind(6, b.totalReceived)
                    .bind(7, b.totalWithdrawn).bind(8, row.address.raw).run()
            }
        }
        pendingAccounts.removeAll(keepingCapacity: true)
    }

    /// Appends an immutable transfer and returns its id.
    @discardableResult
    func transfer(_ kind: TransferKind, debit: String?, credit: String?, amount: Amount, reference: String?) throws -> Int64 {
        try db.statement("INSERT INTO transfers (kind, debit_account, credit_account, amount, reference, created_at) VALUES (?,?,?,?,?,?)")
            .bind(1, kind.rawValue).bind(2, debit).bind(3, credit).bind(4, amount).bind(5, reference).bind(6, now).run()
        return sqlite3LastInsertRowid()
    }

    private func sqlite3LastInsertRowid() -> Int64 { sqlite3_last_insert_rowid(db.handle) }

    // MARK: Totals

    static let totalNames = ["accounts", "payments_settled", "payments_held", "payments_approved", "payments_rejected",
                             "payments_expired", "volume", "deposited", "withdrawn"]

    static func loadTotals(_ db: SQLiteConnection) throws -> LedgerTotals {
        var t = LedgerTotals()
        let s = try db.statement("SELECT name, value FROM totals")
        while try s.step() {
            guard let name = s.text(0), let v = s.amount(1) else { continue }
            let n = UInt64(truncatingIfNeeded: v.value)
            switch name {
            case "accounts": t.accounts = n
            case "payments_settled": t.paymentsSettled = n
            case "payments_held": t.paymentsHeld = n
            case "payments_approved": t.paymentsApproved = n
            case "payments_rejected": t.paymentsRejected = n
            case "payments_expired": t.paymentsExpired = n
            case "volume": t.volume = v
            case "deposited": t.deposited = v
            case "withdrawn": t.withdrawn = v
            default: break
            }
        }
        return t
    }

    func saveTotals() throws {
        let t = totals
        let values: [Amount] = [Amount(UInt128(t.accounts)), Amount(UInt128(t.paymentsSettled)), Amount(UInt128(t.paymentsHeld)),
                                Amount(UInt128(t.paymentsApproved)), Amount(UInt128(t.paymentsRejected)),
                                Amount(UInt128(t.paymentsExpired)), t.volume, t.deposited, t.withdrawn]
        let s = try db.statement("INSERT INTO totals (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
        for (name, value) in zip(Self.totalNames, values) {
            try s.bind(1, name).bind(2, value).run()
        }
    }
}

func amount(_ s: Statement, _ column: Int32) -> Amount {
    guard let a = s.amount(column) else {
        // Amounts are written only through Amount.bigEndianBytes; anything else is corruption.
        preconditionFailure("corrupt amount in column \(column)")
    }
    return a
}

func optionalAmount(_ s: Statement, _ column: Int32) -> Amount? {
    s.isNull(column) ? nil : amount(s, column)
}
