import NanoPayCore

extension LedgerTransaction {
    func approvalRow(_ id: String) throws -> Approval {
        let s = try db.statement("SELECT id, payer, payee, amount, status, reason, requested_at, expires_at, decided_by, decided_at, decision_reason, confirmation_id FROM approvals WHERE id = ? AND kind = 'approval'")
        s.bind(1, id)
        guard try s.step() else { throw NanoPayError(.approvalNotFound, "no approval with id \(id)") }
        let a = try Self.approval(from: s)
        s.reset()
        return a
    }

    static func approval(from s: Statement) throws -> Approval {
        Approval(id: s.text(0) ?? "", from: try storedAddress(s.text(1)), to: try storedAddress(s.text(2)), amount: amount(s, 3),
                 status: ApprovalStatus(rawValue: s.text(4) ?? "") ?? .pending, reason: s.text(5) ?? "",
                 requestedAtMilliseconds: UInt64(s.int(6)), expiresAtMilliseconds: UInt64(s.int(7)), decidedBy: s.text(8),
                 decidedAtMilliseconds: s.isNull(9) ? nil : UInt64(s.int(9)), decisionReason: s.text(10), confirmationId: s.text(11))
    }

    /// Voids every pending hold whose time is up (run at the start of each batch, and so by the
    /// service's periodic sweep): funds go back to available, the hold becomes `expired`.
    func expireDueHolds() throws {
        let s = try db.statement("SELECT id FROM approvals WHERE status = 'pending' AND expires_at <= ?")
        s.bind(1, now)
        var due: [String] = []
        while try s.step() { if let id = s.text(0) { due.append(id) } }
        for id in due { try resolve(id, to: .expired, by: "system:expiry", reason: "approval window ended") }
    }

    /// Approves (posts) or rejects (voids) a pending hold. A hold resolves exactly once.
    func decide(_ id: String, approve: Bool, by: String, reason: String?) throws -> (Approval, SettledPayment?) {
        let current = try approvalRow(id)
        switch current.status {
        case .approved: throw NanoPayError(.alreadyApproved, "approval \(id) was already approved")
        case .rejected: throw NanoPayError(.alreadyRejected, "approval \(id) was already rejected")
        case .expired: throw NanoPayError(.approvalExpired, "approval \(id) expired before a decision")
        case .pending: break
        }
        let settled = try resolve(id, to: approve ? .approved : .rejected, by: by, reason: reason)
        return (try approvalRow(id), settled)
    }

    /// Moves a pending hold to its final state, with the matching transfer. Returns the settled
    /// payment when posted.
    /// Reservations (`kind = 'reservation'`) resolve the same way; they count in the totals as
    /// settled payments once captured, and not at all otherwise (they are not approvals).
    @discardableResult
    func resolve(_ id: String, to status: ApprovalStatus, by: String, reason: String?) throws -> SettledPayment? {
        let s = try db.statement("SELECT payer, nonce, payee, amount, kind FROM approvals WHERE id = ? AND status = 'pending'")
        s.bind(1, id)
        guard try s.step() else { throw NanoPayError(.internalError, "approval \(id) is not pending") }
        let payer = s.text(0) ?? "", nonce = s.blob(1) ?? [], payee = s.text(2) ?? "", holdAmount = amount(s, 3)
        let isReservation = s.text(4) == "reservation"
        s.reset()
        guard var payerRow = try account(try Self.storedAddress(payer)), let held = payerRow.balance.held.subtracting(holdAmount) else {
            preconditionFailure("hold \(id) is not covered by the payer's held balance")
        }
        payerRow.balance.held = held
        var settled: SettledPayment? = nil
        var confirmationId: String? = nil
        switch status {
        case .approved:
            var payeeRow = try accountOrNew(try Self.storedAddress(payee))
            guard let spent = payerRow.balance.totalSpent.adding(holdAmount),
                  let credited = payeeRow.balance.available.adding(holdAmount),
                  let received = payeeRow.balance.totalReceived.adding(holdAmount),
                  let volume = totals.volume.adding(holdAmount)
            else { throw NanoPayError(.amountOverflow, "posting would overflow a 128-bit balance") }
            payerRow.balance.totalSpent = spent
            payeeRow.balance.available = credited
            payeeRow.balance.totalReceived = received
            try save(payerRow)
            try save(payeeRow)
            try transfer(.post, debit: payer, credit: payee, amount: holdAmount, reference: id)
            let p = try paymentForHold(payer: payer, nonce: nonce)
            let facts = settledFacts(auth: p.auth, digest: p.digest, remaining: payerRow.balance.available,
                                     confirmationId: Self.confirmationId(payer: payer, digest: p.digest, nowMilliseconds: nowMilliseconds))
            settled = facts
            confirmationId = facts.confirmationIdText
            if isReservation { totals.paymentsSettled += 1 } else { totals.paymentsApproved += 1 }
            totals.volume = volume
        case .rejected, .expired:
            guard let available = payerRow.balance.available.adding(holdAmount) else { preconditionFailure("void overflow") }
            payerRow.balance.available = available
            try save(payerRow)
            try transfer(status == .rejected ? .void : .expire, debit: payer, credit: payee, amount: holdAmount, reference: id)
            if !isReservation {
                if status == .rejected { totals.paymentsRejected += 1 } else { totals.paymentsExpired += 1 }
            }
        case .pending:
            preconditionFailure("cannot resolve to pending")
        }
        if !isReservation { totals.paymentsHeld -= 1 }
        try db.statement("UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, decision_reason = ?, confirmation_id = ? WHERE id = ?")
            .bind(1, status.rawValue).bind(2, by).bind(3, now).bind(4, reason).bind(5, confirmationId).bind(6, id).run()
        // A captured reservation was served by its capture: any later verify of it is a replay.
        // (An approved hold is served by the buyer's first verify after the approval.)
        try db.statement("UPDATE payments SET status = ?, confirmation_id = ?, remaining_balance = ?, confirmed_at = ?, served = ? WHERE payer = ? AND nonce = ? AND live = 1")
            .bind(1, status.rawValue).bind(2, confirmationId).bind(3, settled?.remainingBalance.bigEndianBytes)
            .bind(4, settled.map { Int64(clamping: $0.confirmedAtSeconds) }).bind(5, Int64(isReservation ? 1 : 0))
            .bind(6, payer).bind(7, nonce).run()
        return settled
    }

    private func paymentForHold(payer: String, nonce: [UInt8]) throws -> (auth: PaymentAuthorization, digest: [UInt8]) {
        guard let row = try paymentRow(payer: payer, nonce: nonce),
              let from = try? TONAddress(parsing: payer), let to = try? TONAddress(parsing: row.payee)
        else { throw NanoPayError(.internalError, "held payment row is missing") }
        let auth = PaymentAuthorization(from: from, to: to, amount: row.amount, validBefore: row.validBefore, nonce: nonce,
                                        signature: [UInt8](repeating: 0, count: 64))
        return (auth, row.digest)
    }
}

extension LedgerTransaction {
    /// An address the ledger wrote itself (canonical raw form). One that does not parse means the
    /// file was changed behind the ledger's back: an internal error, never a guess.
    static func storedAddress(_ text: String?) throws(NanoPayError) -> TONAddress {
        guard let text, let address = try? TONAddress(parsing: text) else {
            throw NanoPayError(.internalError, "the ledger holds a malformed address")
        }
        return address
    }
}
