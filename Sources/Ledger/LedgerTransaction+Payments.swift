import Foundation
import NanoPayCore

extension LedgerTransaction {
    struct PaymentRow {
        var payee: String
        var amount: Amount
        var validBefore: UInt64
        var digest: [UInt8]
        var status: PaymentStatus
        var confirmationId: String?
        var approvalId: String?
        var served: Bool
    }

    func paymentRow(payer: String, nonce: [UInt8]) throws -> PaymentRow? {
        // `live = 1` lets SQLite use the partial unique index (pruned rows are out of it).
        let s = try db.statement("SELECT payee, amount, valid_before, auth_digest, status, confirmation_id, approval_id, served FROM payments WHERE payer = ? AND nonce = ? AND live = 1")
        s.bind(1, payer).bind(2, nonce)
        guard try s.step() else { return nil }
        let row = PaymentRow(payee: s.text(0) ?? "", amount: amount(s, 1), validBefore: UInt64(bitPattern: s.int(2)),
                             digest: s.blob(3) ?? [], status: PaymentStatus(rawValue: s.text(4) ?? "") ?? .expired, confirmationId: s.text(5),
                             approvalId: s.text(6), served: s.int(7) != 0)
        s.reset()
        return row
    }

    /// The stateful half of a payment: nonce state, policy, balance, then debit, credit, the
    /// settled payment's facts and nonce consumption, all in this transaction. A failed check
    /// writes nothing. A hold expires `holdTimeoutSeconds` after now, or at validBefore if sooner.
    func pay(_ request: PaymentRequest, holdTimeoutSeconds: UInt64) throws -> PaymentRecord {
        switch try record(request, holdTimeoutSeconds: holdTimeoutSeconds, reservation: nil) {
        case .payment(let record): return record
        case .reservation: throw NanoPayError(.internalError, "a payment became a reservation")
        }
    }

    /// A reservation's parameters: how long it holds, and the hash of the token that resolves it.
    struct ReservationTerms {
        var timeoutSeconds: UInt64
        var captureTokenHash: [UInt8]
    }

    enum Recorded {
        case payment(PaymentRecord)
        case reservation(id: String, expiresAtMilliseconds: UInt64)
    }

    /// A payment, or with `reservation` a reservation: every check is the same (nonce, key,
    /// policies, rate limits, balance); only the last step differs (settle, or hold for the
    /// token's holder). A payment policy holds for a human is held either way.
    func record(_ request: PaymentRequest, holdTimeoutSeconds: UInt64, reservation: ReservationTerms?) throws -> Recorded {
        let auth = request.authorization
        let payer = auth.from.raw, payee = auth.to.raw

        // Nonce state: an identical resubmission gets the original outcome; any other use of
        // the nonce is refused. A reservation needs an authorization never seen before: a second
        // reserve must not learn anything that resolves the first.
        if let existing = try paymentRow(payer: payer, nonce: auth.nonce) {
            if reservation != nil {
                throw NanoPayError(.authorizationInUse, "this authorization is already reserved, settled or held; sign a new one")
            }
            guard Sodium.constantTimeEqual(existing.digest, request.digest) else {
                throw NanoPayError(.nonceReused, "this nonce was already used by a different authorization from this payer")
            }
            try checkTicketUse(request, payer: payer)
            return .payment(try replay(existing, payer: payer, nonce: auth.nonce))
        }

        guard var payerRow = try account(auth.from), let key = payerRow.publicKey else {
            throw NanoPayError(.unknownPayer, "payer \(payer) has no registered key; deposit first")
        }
        guard Sodium.constantTimeEqual(key, request.verifiedPublicKey) else {
            throw NanoPayError(.invalidSignature, "the payer's registered key changed; sign again")
        }

        // Policies of both sides.
        let payerPolicy = try policy(auth.from), payeePolicy = try policy(auth.to)
        let nowMicros = now * 1000
        var rateUpdates: [(String, RateDirection, Int64)] = []
        for (policy, direction) in [(payerPolicy, RateDirection.outgoing), (payeePolicy, .incoming)] {
            guard let policy, let rate = policy.rateLimit else { continue }
            let decision = GCRA.check(tat: try rateTat(policy.address.raw, direction), nowMicros: nowMicros,
                                      ratePerMinute: rate, burst: policy.rateBurst ?? rate)
            guard decision.allowed else {
                let seconds = UInt64((decision.retryAfterMicros + 999_999) / 1_000_000)
                let who = direction.party
                throw NanoPayError(.rateLimited, "\(who) rate limit of \(rate) payments per minute reached; retry in \(max(seconds, 1)) s",
                                   retryAfterSeconds: max(seconds, 1))
            }
            rateUpdates.append((policy.address.raw, direction, decision.newTat))
        }
        var holdReasons: [String] = []
        for (policy, side) in [(payerPolicy, RateDirection.outgoing), (payeePolicy, .incoming)] {
            guard let policy else { continue }
            let who = side.party
            if let max = policy.maxAmount, auth.amount > max {
                holdReasons.append("amount \(auth.amount) exceeds the \(who)'s maxAmount \(max)")
            }
            if let cap = policy.dailyCap {
                let spent = try rollingDaySum(address: policy.address.raw, asPayer: side == .outgoing)
                if (spent.adding(auth.amount) ?? .max) > cap {
                    holdReasons.append("amount \(auth.amount) would take the \(who)'s 24 h total past its dailyCap \(cap) (already \(spent))")
                }
            }
        }

        // Balance.
        guard let available = payerRow.balance.available.subtracting(auth.amount) else {
            throw NanoPayError(.insufficientBalance, "available balance \(payerRow.balance.available) is less than \(auth.amount)")
        }

        for (address, direction, tat) in rateUpdates {
            try db.statement("INSERT INTO rate_state (address, direction, tat) VALUES (?,?,?) ON CONFLICT(address, direction) DO UPDATE SET tat = excluded.tat")
                .bind(1, address).bind(2, direction.rawValue).bind(3, tat).run()
        }

        if !holdReasons.isEmpty || reservation != nil {
            guard let held = payerRow.balance.held.adding(auth.amount) else { throw NanoPayError(.amountOverflow, "held balance would overflow") }
            payerRow.balance.available = available
            payerRow.balance.held = held
            try save(payerRow)
            let isReservation = holdReasons.isEmpty
            let holdId = isReservation ? Self.reservationId(payer: payer, digest: request.digest) : Self.approvalId(payer: payer, digest: request.digest)
            // validBefore is the buyer's number: saturate rather than wrap (a wrapped product
            // would expire the hold at once).
            let (validBeforeMs, overflow) = auth.validBefore.multipliedReportingOverflow(by: 1000)
            let timeoutMs = (isReservation ? reservation?.timeoutSeconds ?? 0 : holdTimeoutSeconds).multipliedReportingOverflow(by: 1000)
            let untilTimeout = nowMilliseconds.addingReportingOverflow(timeoutMs.partialValue)
            let timeoutEnd = timeoutMs.overflow || untilTimeout.overflow ? UInt64.max : untilTimeout.partialValue
            let expiresAt = min(timeoutEnd, overflow ? .max : validBeforeMs)
            try transfer(.hold, debit: payer, credit: payee, amount: auth.amount, reference: holdId)
            try db.statement("INSERT INTO approvals (id, payer, nonce, payee, amount, status, reason, requested_at, expires_at, kind, capture_token_hash) VALUES (?,?,?,?,?,'pending',?,?,?,?,?)")
                .bind(1, holdId).bind(2, payer).bind(3, auth.nonce).bind(4, payee).bind(5, auth.amount)
                .bind(6, isReservation ? "reserved until captured or voided" : holdReasons.joined(separator: "; ")).bind(7, now)
                .bind(8, Int64(expiresAt)).bind(9, isReservation ? "reservation" : "approval")
                .bind(10, isReservation ? reservation?.captureTokenHash : nil).run()
            try insertPayment(auth, digest: request.digest, status: .held, confirmationId: nil, approvalId: holdId)
            try bindPaymentIdentifier(request)
            if let terms = request.ticketTerms { try insertTicketTerms(terms, payer: payer, digest: request.digest) }
            if isReservation { return .reservation(id: holdId, expiresAtMilliseconds: expiresAt) }
            totals.paymentsHeld += 1
            return .payment(.held(approvalId: holdId, expiresAtMilliseconds: expiresAt))
        }

        var payeeRow = try accountOrNew(auth.to)
        guard let spent = payerRow.balance.totalSpent.adding(auth.amount),
              let credited = payeeRow.balance.available.adding(auth.amount),
              let received = payeeRow.balance.totalReceived.adding(auth.amount),
              let volume = totals.volume.adding(auth.amount)
        else { throw NanoPayError(.amountOverflow, "the payment would overflow a 128-bit balance") }
        payerRow.balance.available = available
        payerRow.balance.totalSpent = spent
        payeeRow.balance.available = credited
        payeeRow.balance.totalReceived = received
        try save(payerRow)
        try save(payeeRow)
        // One row: the nonce's state, the movement of money and the receipt's facts.
        let settled = settledFacts(auth: auth, digest: request.digest, remaining: available,
                                   confirmationId: Self.confirmationId(payer: payer, digest: request.digest, nowMilliseconds: nowMilliseconds))
        try insertPayment(auth, digest: request.digest, status: .settled, confirmationId: settled.confirmationIdText, approvalId: nil,
                          settled: settled)
        try bindPaymentIdentifier(request)
        if let terms = request.ticketTerms { try insertTicketTerms(terms, payer: payer, digest: request.digest) }
        totals.paymentsSettled += 1
        totals.volume = volume
        return .payment(.settled(settled, replayed: false))
    }

    /// The answer to an identical resubmission.
    private func replay(_ existing: PaymentRow, payer: String, nonce: [UInt8]) throws -> PaymentRecord {
        // A reservation answers nothing to anyone but the token's holder, until it is captured
        // (then it is a posted payment like any other).
        if existing.status != .settled, existing.status != .approved, let id = existing.approvalId, id.hasPrefix(Self.reservationIdPrefix) {
            throw NanoPayError(.authorizationInUse, existing.status == .held
                ? "this authorization is reserved by a gateway until it is captured or voided"
                : "this authorization's reservation was voided or expired (nothing was charged); sign a new one")
        }
        switch existing.status {
        case .settled:
            return .settled(try settledPayment(existing.confirmationId ?? ""), replayed: true)
        case .approved:
            // The buyer is served by the first verify after approval; later ones are replays.
            if !existing.served {
                try db.statement("UPDATE payments SET served = 1 WHERE payer = ? AND nonce = ? AND live = 1").bind(1, payer).bind(2, nonce).run()
            }
            return .settled(try settledPayment(existing.confirmationId ?? ""), replayed: existing.served)
        case .held:
            let approval = try approvalRow(existing.approvalId ?? "")
            return .held(approvalId: approval.id, expiresAtMilliseconds: approval.expiresAtMilliseconds)
        case .rejected:
            throw NanoPayError(.approvalRejected, "this payment was rejected by an operator")
        case .expired:
            throw NanoPayError(.approvalExpired, "this payment's approval window expired before a decision")
        }
    }

    /// Binds the request's x402 payment identifier to its authorization, in the transaction that
    /// records the payment. An id already bound (to anything: a new payment reaches here only
    /// once) is `payment_identifier_conflict`, and the whole payment is undone with it.
    func bindPaymentIdentifier(_ request: PaymentRequest) throws {
        guard let id = request.paymentIdentifier else { return }
        if try paymentIdentifier(id) != nil {
            throw NanoPayError(.paymentIdentifierConflict, "payment identifier \(id) is already bound to another payment")
        }
        let auth = request.authorization
        try db.statement("INSERT INTO payment_identifiers (id, payer, nonce, valid_before, created_at) VALUES (?,?,?,?,?)")
            .bind(1, id).bind(2, auth.from.raw).bind(3, auth.nonce).bind(4, Int64(clamping: auth.validBefore)).bind(5, now).run()
    }

    func paymentIdentifier(_ id: String) throws -> (payer: String, nonce: [UInt8])? {
        let s = try db.statement("SELECT payer, nonce FROM payment_identifiers WHERE id = ?")
        s.bind(1, id)
        guard try s.step() else { return nil }
        let found = (payer: s.text(0) ?? "", nonce: s.blob(1) ?? [])
        s.reset()
        return found
    }

    func insertPayment(_ auth: PaymentAuthorization, digest: [UInt8], status: PaymentStatus, confirmationId: String?, approvalId: String?,
                       settled: SettledPayment? = nil) throws {
        try db.statement("INSERT INTO payments (payer, nonce, payee, amount, valid_before, auth_digest, status, confirmation_id, approval_id, created_at, remaining_balance, confirmed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
            .bind(1, auth.from.raw).bind(2, auth.nonce).bind(3, auth.to.raw).bind(4, auth.amount)
            .bind(5, Int64(clamping: auth.validBefore)).bind(6, digest).bind(7, status.rawValue).bind(8, confirmationId).bind(9, approvalId).bind(10, now)
            .bind(11, settled?.remainingBalance.bigEndianBytes).bind(12, settled.map { Int64(clamping: $0.confirmedAtSeconds) }).run()
    }

    /// The facts of a payment posted now (the receipt's content, unsigned: the service signs it
    /// on the way out, off the single writer; the ledger has no key).
    func settledFacts(auth: PaymentAuthorization, digest: [UInt8], remaining: Amount, confirmationId: String) -> SettledPayment {
        SettledPayment(confirmationId: Hex.decode(confirmationId, byteCount: 16) ?? [], from: auth.from, to: auth.to, amount: auth.amount,
                       nonce: auth.nonce, validBefore: auth.validBefore, remainingBalance: remaining,
                       confirmedAtSeconds: nowMilliseconds / 1000, authorizationDigest: digest)
    }

    /// The facts of a settled (or approved) payment, from its row, if any.
    func findSettledPayment(_ confirmationId: String) throws -> SettledPayment? {
        let s = try db.statement("SELECT payer, payee, amount, nonce, valid_before, remaining_balance, confirmed_at, auth_digest FROM payments WHERE confirmation_id = ? AND status IN ('settled','approved')")
        s.bind(1, confirmationId)
        defer { s.reset() }
        guard try s.step(), let remaining = s.amount(5), let cid = Hex.decode(confirmationId, byteCount: 16),
              let from = try? TONAddress(parsing: s.text(0) ?? ""), let to = try? TONAddress(parsing: s.text(1) ?? "")
        else { return nil }
        return SettledPayment(confirmationId: cid, from: from, to: to, amount: amount(s, 2), nonce: s.blob(3) ?? [],
                              validBefore: UInt64(bitPattern: s.int(4)), remainingBalance: remaining,
                              confirmedAtSeconds: UInt64(bitPattern: s.int(6)), authorizationDigest: s.blob(7) ?? [])
    }

    /// A settled payment that must exist (it is posted).
    func settledPayment(_ confirmationId: String) throws -> SettledPayment {
        guard let settled = try findSettledPayment(confirmationId) else {
            throw NanoPayError(.internalError, "settled payment \(confirmationId) is missing")
        }
        return settled
    }

    func rateTat(_ address: String, _ direction: RateDirection) throws -> Int64? {
        let s = try db.statement("SELECT tat FROM rate_state WHERE address = ? AND direction = ?")
        s.bind(1, address).bind(2, direction.rawValue)
        guard try s.step() else { return nil }
        let v = s.int(0)
        s.reset()
        return v
    }

    /// The account's latest payments either way, newest first. Each side walks its own
    /// (party, created_at) index, so the cost is `limit` rows however long the history is.
    func recentPayments(_ address: TONAddress, limit: Int) throws -> [PaymentSummary] {
        let cols = "seq, payer, payee, amount, status, created_at, confirmation_id, approval_id"
        let s = try db.statement("""
            SELECT * FROM (SELECT \(cols) FROM payments WHERE payer = ?1 ORDER BY created_at DESC, seq DESC LIMIT ?2)
            UNION ALL SELECT * FROM (SELECT \(cols) FROM payments WHERE payee = ?1 AND payer != ?1 ORDER BY created_at DESC, seq DESC LIMIT ?2)
            ORDER BY created_at DESC, seq DESC LIMIT ?2
            """)
        s.bind(1, address.raw).bind(2, Int64(limit))
        var out: [PaymentSummary] = []
        while try s.step() {
            guard let status = PaymentStatus(rawValue: s.text(4) ?? "") else { throw NanoPayError(.internalError, "a payment row has an unknown status") }
            out.append(PaymentSummary(from: try Self.storedAddress(s.text(1)), to: try Self.storedAddress(s.text(2)), amount: amount(s, 3),
                                      status: status, createdAtMilliseconds: UInt64(clamping: s.int(5)),
                                      confirmationId: s.text(6), approvalId: s.text(7)))
        }
        return out
    }

    /// Sum of the payments (settled, held or approved) made or received in the last 24 hours.
    func rollingDaySum(address: String, asPayer: Bool) throws -> Amount {
        let sql = asPayer
            ? "SELECT amount FROM payments WHERE payer = ? AND created_at > ? AND status IN ('settled','held','approved')"
            : "SELECT amount FROM payments WHERE payee = ? AND created_at > ? AND status IN ('settled','held','approved')"
        let s = try db.statement(sql)
        s.bind(1, address).bind(2, now - 86_400_000)
        var sum = Amount.zero
        while try s.step() { sum = sum.adding(amount(s, 0)) ?? .max }
        return sum
    }

    /// Frees the nonces of authorizations past validBefore plus the grace period (they would be
    /// rejected as expired anyway). Receipts stay. Returns how many were pruned.
    func pruneNonces() throws -> Int {
        let cutoff = Int64(nowMilliseconds / 1000) - Int64(configuration.nonceGraceSeconds)
        // Holds that were rejected or expired have no receipt: their rows go. A posted payment's
        // row is its receipt: it stays, out of the nonce index, so the nonce may be signed anew.
        try db.statement("DELETE FROM payments WHERE valid_before < ? AND status IN ('rejected','expired')").bind(1, cutoff).run()
        var pruned = db.changes
        try db.statement("UPDATE payments SET live = 0 WHERE valid_before < ? AND live = 1 AND status IN ('settled','approved')").bind(1, cutoff).run()
        pruned += db.changes
        try db.statement("DELETE FROM payment_identifiers WHERE valid_before < ?").bind(1, cutoff).run()
        return pruned
    }

    /// 16 bytes: the posting time (6 bytes, big-endian Unix milliseconds), then 10 bytes of a
    /// hash of the payer and the authorization's digest.
    ///
    /// The time comes first so that the receipts' unique index grows at its end: the ids of one
    /// group commit share a prefix and land on one page, where a fully hashed id put each insert
    /// on a random leaf, its own 4 KiB WAL frame (3.35 -> 2.62 frames per payment, BENCHMARKS.md).
    /// The hash half comes from the digest, not from (payer, nonce): once a nonce is pruned the
    /// payer may sign a new authorization with it, which must get an id of its own. A repeat of
    /// one authorization is answered from its stored row, so the time never splits it in two.
    static func confirmationId(payer: String, digest: [UInt8], nowMilliseconds: UInt64) -> String {
        let time = withUnsafeBytes(of: nowMilliseconds.bigEndian) { Array($0.suffix(6)) }
        return Hex.encode(time + Sodium.sha256(Array("CyberNanoPay:confirmation:v3:\(payer):".utf8) + digest).prefix(10))
    }

    /// Reservations have ids of their own (`res_`), so they never collide with approvals and a
    /// hold's kind reads off its id.
    static let reservationIdPrefix = "res_"

    static func reservationId(payer: String, digest: [UInt8]) -> String {
        reservationIdPrefix + Hex.encode(Sodium.sha256(Array("CyberNanoPay:reservation:v1:\(payer):".utf8) + digest).prefix(12))
    }

    static func approvalId(payer: String, digest: [UInt8]) -> String {
        "apr_" + Hex.encode(Sodium.sha256(Array("CyberNanoPay:approval:v2:\(payer):".utf8) + digest).prefix(12))
    }
}
