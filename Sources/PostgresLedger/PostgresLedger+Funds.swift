import NanoPayCore
import PostgresNIO

extension PostgresLedger {
    /// Credits a deposit, idempotent by its reference across replicas (a concurrent duplicate
    /// meets the unique reference, is retried, and is then answered as the repeat it is).
    public func deposit(address: TONAddress, amount: Amount, publicKey: [UInt8]?, reference: String) async throws -> AccountBalance {
        try await expireDueHoldsFirst()
        guard amount != .zero else { throw NanoPayError.invalid("a deposit must be more than zero") }
        defer { if publicKey != nil { keys.invalidate(address.raw) } }
        let now = Int64(clamping: configuration.clock.nowMilliseconds())
        let writer = writerId, logger = self.logger, addr = address.raw
        let balance = try await withTransaction { connection -> AccountBalance in
            var earlier: (String, String)?
            for try await row in try await connection.send("SELECT address, amount::text FROM deposits WHERE reference = \(reference)", logger: logger)
                .decode((String, String).self) { earlier = row }
            if let (earlierAddress, earlierAmount) = earlier {
                guard earlierAddress == addr, try Self.amount(earlierAmount) == amount else {
                    throw NanoPayError(.referenceConflict, "reference \(reference) was already used for a different deposit")
                }
                return try await Self.lockedAccount(connection, address, logger: logger)?.balance ?? .empty(address)
            }
            let created = try await Self.ensureAccount(connection, addr, now: now, logger: logger)
            guard var row = try await Self.lockedAccount(connection, address, logger: logger) else {
                throw NanoPayError(.internalError, "account \(addr) vanished")
            }
            if let publicKey {
                if let existing = row.publicKey, !Sodium.constantTimeEqual(existing, publicKey) {
                    throw NanoPayError(.publicKeyConflict, "account \(addr) already has a different registered key; an operator must rotate it")
                }
                row.publicKey = publicKey
            }
            guard let available = row.balance.available.adding(amount), let deposited = row.balance.totalDeposited.adding(amount),
                  try await Self.counterFits(connection, "deposited", adding: amount, logger: logger) else {
                throw NanoPayError(.amountOverflow, "the deposit would overflow a 128-bit balance")
            }
            row.balance.available = available
            row.balance.totalDeposited = deposited
            try await connection.run("""
                UPDATE accounts SET public_key = \(row.publicKey.map { ByteBuffer(bytes: $0) }), available = \(available.description)::numeric,
                       total_deposited = \(deposited.description)::numeric WHERE address = \(addr)
                """, logger: logger)
            try await connection.run("""
                WITH t AS (INSERT INTO transfers (kind, credit_account, amount, reference, created_at)
                           VALUES ('deposit', \(addr), \(amount.description)::numeric, \(reference), \(now)) RETURNING id)
                INSERT INTO deposits (reference, address, amount, transfer_id, created_at)
                SELECT \(reference), \(addr), \(amount.description)::numeric, id, \(now) FROM t
                """, logger: logger)
            try await Self.count(connection, writer: writer, accounts: created ? 1 : 0, deposited: amount, logger: logger)
            return row.balance
        }
        try? await refreshTotals()
        return balance
    }

    /// Records an operator withdrawal, idempotent by reference. Takes only available funds.
    public func withdraw(address: TONAddress, amount: Amount, reference: String) async throws -> AccountBalance {
        try await expireDueHoldsFirst()
        guard amount != .zero else { throw NanoPayError.invalid("a withdrawal must be more than zero") }
        let now = Int64(clamping: configuration.clock.nowMilliseconds())
        let writer = writerId, logger = self.logger, addr = address.raw
        let balance = try await withTransaction { connection -> AccountBalance in
            var earlier: (String, String)?
            for try await row in try await connection.send("SELECT address, amount::text FROM withdrawals WHERE reference = \(reference)", logger: logger)
                .decode((String, String).self) { earlier = row }
            let row = try await Self.lockedAccount(connection, address, logger: logger)
            if let (earlierAddress, earlierAmount) = earlier {
                guard earlierAddress == addr, try Self.amount(earlierAmount) == amount else {
                    throw NanoPayError(.referenceConflict, "reference \(reference) was already used for a different withdrawal")
                }
                return row?.balance ?? .empty(address)
            }
            guard var row, let available = row.balance.available.subtracting(amount) else {
                throw NanoPayError(.insufficientBalance, "available balance \(row?.balance.available ?? .zero) is less than \(amount)")
            }
            guard let withdrawn = row.balance.totalWithdrawn.adding(amount),
                  try await Self.counterFits(connection, "withdrawn", adding: amount, logger: logger) else {
                throw NanoPayError(.amountOverflow, "withdrawal total would overflow")
            }
            row.balance.available = available
            row.balance.totalWithdrawn = withdrawn
            try await connection.run("""
                UPDATE accounts SET available = \(available.description)::numeric, total_withdrawn = \(withdrawn.description)::numeric
                 WHERE address = \(addr)
                """, logger: logger)
            try await connection.run("""
                WITH t AS (INSERT INTO transfers (kind, debit_account, amount, reference, created_at)
                           VALUES ('withdrawal', \(addr), \(amount.description)::numeric, \(reference), \(now)) RETURNING id)
                INSERT INTO withdrawals (reference, address, amount, transfer_id, created_at)
                SELECT \(reference), \(addr), \(amount.description)::numeric, id, \(now) FROM t
                """, logger: logger)
            try await Self.count(connection, writer: writer, withdrawn: amount, logger: logger)
            return row.balance
        }
        try? await refreshTotals()
        return balance
    }

    /// Operator key rotation. Other replicas see it within the key cache's lifetime.
    public func rotateKey(address: TONAddress, publicKey: [UInt8]) async throws {
        try await expireDueHoldsFirst()
        defer { keys.invalidate(address.raw) }
        let logger = self.logger, addr = address.raw
        let updated = try await withConnection { connection in
            var n = 0
            for try await _ in try await connection.send(
                "UPDATE accounts SET public_key = \(ByteBuffer(bytes: publicKey)) WHERE address = \(addr) RETURNING 1", logger: logger
            ).decode(Int32.self) { n += 1 }
            return n
        }
        guard updated == 1 else { throw NanoPayError(.unknownPayer, "account \(addr) does not exist") }
    }

    public func setPolicy(address: TONAddress, update: PolicyUpdate, authority: PolicyAuthority, expectedVersion: UInt64?) async throws -> Policy {
        try await expireDueHoldsFirst()
        let now = configuration.clock.nowMilliseconds()
        let logger = self.logger, addr = address.raw
        return try await withTransaction { connection in
            let current = try await Self.policy(connection, address, lock: true, logger: logger)
            let p = try Policy.applying(update, to: current, address: address, authority: authority,
                                        expectedVersion: expectedVersion, nowMilliseconds: now)
            // Without a row to lock, two replicas may both insert version 1: the second meets the
            // primary key, is retried, and then sees the first's version.
            let sql: PostgresQuery = """
                INSERT INTO policies (address, max_amount, rate_limit, rate_burst, daily_cap, updated_at, updated_by, version)
                VALUES (\(addr), \(p.maxAmount?.description)::numeric, \(p.rateLimit.map { Int64($0) }), \(p.rateBurst.map { Int64($0) }),
                        \(p.dailyCap?.description)::numeric, \(Int64(clamping: now)), \(p.updatedBy), \(Int64(clamping: p.version)))
                ON CONFLICT (address) DO UPDATE SET max_amount = EXCLUDED.max_amount, rate_limit = EXCLUDED.rate_limit,
                    rate_burst = EXCLUDED.rate_burst, daily_cap = EXCLUDED.daily_cap, updated_at = EXCLUDED.updated_at,
                    updated_by = EXCLUDED.updated_by, version = EXCLUDED.version
                """
            if current == nil {
                try await connection.run(sql.replacingConflictClause(), logger: logger)
            } else {
                try await connection.run(sql, logger: logger)
            }
            return p
        }
    }

    /// Frees nonces of authorizations past validBefore plus the grace period; receipts stay.
    /// In chunks of 5,000 rows, each its own short transaction, so a large backlog never meets
    /// the statement timeout (every replica may run it; the rows are disjoint or already done).
    public func pruneNonces() async throws -> Int {
        try await expireDueHoldsFirst()
        let cutoff = Int64(configuration.clock.nowMilliseconds() / 1000) - Int64(configuration.nonceGraceSeconds)
        let logger = self.logger
        var total = 0
        for sql: PostgresQuery in [
            "DELETE FROM payments WHERE seq IN (SELECT seq FROM payments WHERE valid_before < \(cutoff) AND status IN ('rejected','expired') LIMIT 5000) RETURNING 1",
            "UPDATE payments SET live = false WHERE seq IN (SELECT seq FROM payments WHERE valid_before < \(cutoff) AND live AND status IN ('settled','approved') LIMIT 5000) RETURNING 1",
        ] {
            while true {
                let n = try await withConnection { connection in
                    var n = 0
                    for try await _ in try await connection.send(sql, logger: logger).decode(Int32.self) { n += 1 }
                    return n
                }
                total += n
                if n < 5000 { break }
            }
        }
        try await withConnection { connection in
            try await connection.run("DELETE FROM payment_identifiers WHERE id IN (SELECT id FROM payment_identifiers WHERE valid_before < \(cutoff) LIMIT 50000)", logger: logger)
        }
        return total
    }

    // MARK: Helpers inside a transaction

    struct AccountRow: Sendable {
        var publicKey: [UInt8]?
        var balance: AccountBalance
    }

    static let accountColumns = "public_key, available::text, held::text, total_deposited::text, total_spent::text, total_received::text, total_withdrawn::text"

    static func account(_ connection: PostgresConnection, _ address: TONAddress, lock: Bool, logger: Logger) async throws -> AccountRow? {
        let sql = "SELECT \(accountColumns) FROM accounts WHERE address = $1" + (lock ? " FOR UPDATE" : "")
        var bindings = PostgresBindings()
        bindings.append(address.raw)
        for try await (key, a, h, d, s, r, w) in try await connection.send(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
            .decode((ByteBuffer?, String, String, String, String, String, String).self) {
            return AccountRow(publicKey: key.map { Array($0.readableBytesView) }, balance: AccountBalance(
                address: address, available: try amount(a), held: try amount(h), totalDeposited: try amount(d),
                totalSpent: try amount(s), totalReceived: try amount(r), totalWithdrawn: try amount(w)))
        }
        return nil
    }

    static func lockedAccount(_ connection: PostgresConnection, _ address: TONAddress, logger: Logger) async throws -> AccountRow? {
        try await account(connection, address, lock: true, logger: logger)
    }

    /// Creates the account with zero balances unless it exists; true when it was created.
    static func ensureAccount(_ connection: PostgresConnection, _ address: String, now: Int64, logger: Logger) async throws -> Bool {
        var created = false
        for try await _ in try await connection.send("""
            INSERT INTO accounts (address, available, held, total_deposited, total_spent, total_received, total_withdrawn, created_at)
            VALUES (\(address), 0, 0, 0, 0, 0, 0, \(now)) ON CONFLICT (address) DO NOTHING RETURNING 1
            """, logger: logger).decode(Int32.self) { created = true }
        return created
    }

    static func count(_ connection: PostgresConnection, writer: String, accounts: Int64 = 0, deposited: Amount = .zero,
                      withdrawn: Amount = .zero, logger: Logger) async throws {
        try await connection.run("""
            INSERT INTO totals AS t (writer, accounts, deposited, withdrawn)
            VALUES (\(writer), \(accounts), \(deposited.description)::numeric, \(withdrawn.description)::numeric)
            ON CONFLICT (writer) DO UPDATE SET accounts = t.accounts + EXCLUDED.accounts, deposited = t.deposited + EXCLUDED.deposited,
                withdrawn = t.withdrawn + EXCLUDED.withdrawn
            """, logger: logger)
    }

    /// Whether the cluster's counter (a u128, as in the embedded engine) can take `amount` more.
    static func counterFits(_ connection: PostgresConnection, _ column: String, adding amount: Amount, logger: Logger) async throws -> Bool {
        precondition(["deposited", "withdrawn", "volume"].contains(column))
        var binds = PostgresBindings()
        binds.append(amount.description)
        for try await fits in try await connection.send(PostgresQuery(
            unsafeSQL: "SELECT coalesce(sum(\(column)), 0) + $1::numeric <= 340282366920938463463374607431768211455 FROM totals", binds: binds
        ), logger: logger).decode(Bool.self) { return fits }
        return true
    }

    static func policy(_ connection: PostgresConnection, _ address: TONAddress, lock: Bool, logger: Logger) async throws -> Policy? {
        let sql = "SELECT max_amount::text, rate_limit, rate_burst, daily_cap::text, updated_at, updated_by, version FROM policies WHERE address = $1"
            + (lock ? " FOR UPDATE" : "")
        var bindings = PostgresBindings()
        bindings.append(address.raw)
        for try await (maxAmount, rate, burst, cap, updatedAt, updatedBy, version) in try await connection.send(
            PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger
        ).decode((String?, Int64?, Int64?, String?, Int64, String, Int64).self) {
            return Policy(address: address, maxAmount: try maxAmount.map(amount), rateLimit: rate.map { UInt32(clamping: $0) },
                          rateBurst: burst.map { UInt32(clamping: $0) }, dailyCap: try cap.map(amount),
                          updatedAtMilliseconds: UInt64(clamping: updatedAt), updatedBy: updatedBy, version: UInt64(clamping: version))
        }
        return nil
    }
}

extension PostgresQuery {
    /// The same INSERT without its ON CONFLICT clause: a policy created by this transaction must
    /// fail on a concurrent creation (and be retried), not overwrite it.
    func replacingConflictClause() -> PostgresQuery {
        guard let range = sql.range(of: "ON CONFLICT") else { return self }
        return PostgresQuery(unsafeSQL: String(sql[..<range.lowerBound]), binds: binds)
    }
}
