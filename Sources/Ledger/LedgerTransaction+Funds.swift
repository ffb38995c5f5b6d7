import NanoPayCore

extension LedgerTransaction {
    /// Credits a deposit, idempotent by its external reference (e.g. the chain transaction hash).
    /// The first deposit registers the payer's key; a different key for a payer that has one is
    /// refused (an operator rotates keys explicitly).
    func deposit(address: TONAddress, amount depositAmount: Amount, publicKey: [UInt8]?, reference: String) throws -> AccountBalance {
        guard depositAmount != .zero else { throw NanoPayError.invalid("a deposit must be more than zero") }
        let addr = address.raw
        let s = try db.statement("SELECT address, amount FROM deposits WHERE reference = ?")
        s.bind(1, reference)
        if try s.step() {
            let sameAddress = s.text(0) == addr, sameAmount = amount(s, 1) == depositAmount
            s.reset()
            guard sameAddress && sameAmount else {
                throw NanoPayError(.referenceConflict, "reference \(reference) was already used for a different deposit")
            }
            return try accountOrNew(address).balance
        }
        var row = try accountOrNew(address)
        if let publicKey {
            if let existing = row.publicKey, !Sodium.constantTimeEqual(existing, publicKey) {
                throw NanoPayError(.publicKeyConflict, "account \(addr) already has a different registered key; an operator must rotate it")
            }
            row.publicKey = publicKey
        }
        guard let available = row.balance.available.adding(depositAmount),
              let deposited = row.balance.totalDeposited.adding(depositAmount),
              let total = totals.deposited.adding(depositAmount)
        else { throw NanoPayError(.amountOverflow, "the deposit would overflow a 128-bit balance") }
        row.balance.available = available
        row.balance.totalDeposited = deposited
        try save(row)
        let id = try transfer(.deposit, debit: nil, credit: addr, amount: depositAmount, reference: reference)
        try db.statement("INSERT INTO deposits (reference, address, amount, transfer_id, created_at) VALUES (?,?,?,?,?)")
            .bind(1, reference).bind(2, addr).bind(3, depositAmount).bind(4, id).bind(5, now).run()
        totals.deposited = total
        return row.balance
    }

    /// Records an operator withdrawal, idempotent by reference. Takes only available funds,
    /// never held ones.
    func withdraw(address: TONAddress, amount withdrawAmount: Amount, reference: String) throws -> AccountBalance {
        guard withdrawAmount != .zero else { throw NanoPayError.invalid("a withdrawal must be more than zero") }
        let addr = address.raw
        let s = try db.statement("SELECT address, amount FROM withdrawals WHERE reference = ?")
        s.bind(1, reference)
        if try s.step() {
            let same = s.text(0) == addr && amount(s, 1) == withdrawAmount
            s.reset()
            guard same else { throw NanoPayError(.referenceConflict, "reference \(reference) was already used for a different withdrawal") }
            return try accountOrNew(address).balance
        }
        var row = try accountOrNew(address)
        guard let available = row.balance.available.subtracting(withdrawAmount) else {
            throw NanoPayError(.insufficientBalance, "available balance \(row.balance.available) is less than \(withdrawAmount)")
        }
        guard let withdrawn = row.balance.totalWithdrawn.adding(withdrawAmount),
              let total = totals.withdrawn.adding(withdrawAmount)
        else { throw NanoPayError(.amountOverflow, "withdrawal total would overflow") }
        row.balance.available = available
        row.balance.totalWithdrawn = withdrawn
        try save(row)
        let id = try transfer(.withdrawal, debit: addr, credit: nil, amount: withdrawAmount, reference: reference)
        try db.statement("INSERT INTO withdrawals (reference, address, amount, transfer_id, created_at) VALUES (?,?,?,?,?)")
            .bind(1, reference).bind(2, addr).bind(3, withdrawAmount).bind(4, id).bind(5, now).run()
        totals.withdrawn = total
        return row.balance
    }

    /// Operator key rotation: replaces the payer's registered key.
    func rotateKey(address: TONAddress, publicKey: [UInt8]) throws {
        guard var row = try account(address) else {
            throw NanoPayError(.unknownPayer, "account \(address.raw) does not exist")
        }
        row.publicKey = publicKey
        try save(row)
    }

    // MARK: Policies

    func policy(_ address: TONAddress) throws -> Policy? {
        let s = try db.statement("SELECT max_amount, rate_limit, rate_burst, daily_cap, updated_at, updated_by, version FROM policies WHERE address = ?")
        s.bind(1, address.raw)
        guard try s.step() else { return nil }
        let p = Policy(address: address, maxAmount: optionalAmount(s, 0),
                       rateLimit: s.isNull(1) ? nil : UInt32(clamping: s.int(1)),
                       rateBurst: s.isNull(2) ? nil : UInt32(clamping: s.int(2)),
                       dailyCap: optionalAmount(s, 3), updatedAtMilliseconds: UInt64(s.int(4)), updatedBy: s.text(5) ?? "",
                       version: UInt64(clamping: s.int(6)))
        s.reset()
        return p
    }

    /// Applies a policy change. A payer may only tighten: lower a limit or set one that was
    /// absent; never clear or raise one. With `expectedVersion`, the change applies only to that
    /// version of the policy (0: none set yet); any other is `policy_conflict`. Every change
    /// counts the version up, so one signed request applies at most once.
    func setPolicy(address: TONAddress, update: PolicyUpdate, authority: PolicyAuthority, expectedVersion: UInt64? = nil) throws -> Policy {
        let addr = address.raw
        let p = try Policy.applying(update, to: try policy(address), address: address, authority: authority,
                                    expectedVersion: expectedVersion, nowMilliseconds: nowMilliseconds)
        try db.statement("INSERT INTO policies (address, max_amount, rate_limit, rate_burst, daily_cap, updated_at, updated_by, version) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(address) DO UPDATE SET max_amount = excluded.max_amount, rate_limit = excluded.rate_limit, rate_burst = excluded.rate_burst, daily_cap = excluded.daily_cap, updated_at = excluded.updated_at, updated_by = excluded.updated_by, version = excluded.version")
            .bind(1, addr).bind(2, p.maxAmount?.bigEndianBytes).bind(3, p.rateLimit.map { Int64($0) })
            .bind(4, p.rateBurst.map { Int64($0) }).bind(5, p.dailyCap?.bigEndianBytes).bind(6, now).bind(7, p.updatedBy)
            .bind(8, Int64(clamping: p.version)).run()
        return p
    }
}
