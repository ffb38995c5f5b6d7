import NanoPayCore
import PostgresNIO

extension PostgresLedger: LedgerStore {
    public func balance(_ address: TONAddress) async throws -> AccountBalance {
        let logger = self.logger
        return try await withConnection { connection in
            try await Self.account(connection, address, lock: false, logger: logger)?.balance ?? .empty(address)
        }
    }

    /// The payer's registered key, from memory when fetched recently (`KeyCache`).
    public func publicKey(_ address: TONAddress) async throws -> [UInt8]? {
        if let key = keys.cached(address.raw) { return key }
        return try await readKey(address)
    }

    /// Read from the database, and cached afresh: another replica may have rotated the key.
    public func uncachedPublicKey(_ address: TONAddress) async throws -> [UInt8]? {
        try await readKey(address)
    }

    /// The committed key, put in the cache (unless a local change came in between); an address
    /// without one leaves the cache, without invalidating reads in flight for other addresses.
    private func readKey(_ address: TONAddress) async throws(NanoPayError) -> [UInt8]? {
        let raw = address.raw
        let generation = keys.generation
        let logger = self.logger
        let key = try await withConnection { connection in
            var key: [UInt8]?
            for try await buffer in try await connection.send("SELECT public_key FROM accounts WHERE address = \(raw)", logger: logger)
                .decode(ByteBuffer?.self) { key = buffer.map { Array($0.readableBytesView) } }
            return key
        }
        if let key { keys.insert(raw, key, ifStillAt: generation) } else { keys.remove(raw) }
        return key
    }

    public func policy(_ address: TONAddress) async throws -> Policy? {
        let logger = self.logger
        return try await withConnection { connection in try await Self.policy(connection, address, lock: false, logger: logger) }
    }

    public func settledPayment(confirmationId: String) async throws -> SettledPayment? {
        let logger = self.logger
        return try await withConnection { connection -> SettledPayment? in
            for try await (payer, payee, amount, nonce, validBefore, remaining, confirmedAt, digest) in try await connection.send("""
                SELECT payer, payee, amount::text, nonce, valid_before, remaining_balance::text, confirmed_at, auth_digest
                  FROM payments WHERE confirmation_id = \(confirmationId) AND status IN ('settled','approved')
                """, logger: logger).decode((String, String, String, ByteBuffer, Int64, String?, Int64?, ByteBuffer).self) {
                guard let remaining, let confirmedAt, let id = Hex.decode(confirmationId, byteCount: 16) else { return nil }
                return SettledPayment(confirmationId: id, from: try Self.address(payer), to: try Self.address(payee), amount: try Self.amount(amount),
                                      nonce: Array(nonce.readableBytesView), validBefore: UInt64(bitPattern: validBefore),
                                      remainingBalance: try Self.amount(remaining), confirmedAtSeconds: UInt64(clamping: confirmedAt),
                                      authorizationDigest: Array(digest.readableBytesView))
            }
            return nil
        }
    }

    public func paymentIdentifier(_ id: String) async throws -> (payer: String, nonce: [UInt8])? {
        let logger = self.logger
        let found = try await withConnection { connection -> IdentifierBinding? in
            for try await (payer, nonce) in try await connection.send("SELECT payer, nonce FROM payment_identifiers WHERE id = \(id)", logger: logger)
                .decode((String, ByteBuffer).self) { return IdentifierBinding(payer: payer, nonce: Array(nonce.readableBytesView)) }
            return nil
        }
        return found.map { ($0.payer, $0.nonce) }
    }

    static let approvalColumns = "id, payer, payee, amount::text, status, reason, requested_at, expires_at, decided_by, decided_at, decision_reason, confirmation_id"

    /// One approval as of now: a pending hold past its expiry reads as expired.
    public func approval(id: String) async throws -> (Approval, SettledPayment?) {
        let now = configuration.clock.nowMilliseconds()
        let logger = self.logger
        let found = try await withConnection { connection in
            try await Self.approvals(connection, PostgresQuery(unsafeSQL: "SELECT \(Self.approvalColumns) FROM approvals WHERE id = $1 AND kind = 'approval'",
                                                               binds: Self.bindings([id])), now: now, logger: logger).first
        }
        guard let approval = found else { throw NanoPayError(.approvalNotFound, "no approval with id \(id)") }
        guard let confirmationId = approval.confirmationId else { return (approval, nil) }
        return (approval, try await settledPayment(confirmationId: confirmationId))
    }

    public func approvals(status: ApprovalStatus, limit: Int) async throws -> [Approval] {
        let now = Int64(clamping: configuration.clock.nowMilliseconds())
        let logger = self.logger
        let where_: String
        var binds = PostgresBindings()
        switch status {
        case .pending:
            where_ = "status = 'pending' AND expires_at > $1 ORDER BY requested_at LIMIT $2"
            binds.append(now)
        case .expired:
            where_ = "(status = 'expired' OR (status = 'pending' AND expires_at <= $1)) ORDER BY requested_at DESC LIMIT $2"
            binds.append(now)
        case .approved, .rejected:
            where_ = "status = $1 ORDER BY requested_at DESC LIMIT $2"
            binds.append(status.rawValue)
        }
        binds.append(Int64(limit))
        let query = PostgresQuery(unsafeSQL: "SELECT \(Self.approvalColumns) FROM approvals WHERE kind = 'approval' AND " + where_, binds: binds)
        return try await withConnection { connection in try await Self.approvals(connection, query, now: UInt64(now), logger: logger) }
    }

    static func approvals(_ connection: PostgresConnection, _ query: PostgresQuery, now: UInt64, logger: Logger) async throws -> [Approval] {
        var out: [Approval] = []
        for try await (id, payer, payee, amount, status, reason, requestedAt, expiresAt, decidedBy, decidedAt, decisionReason, confirmationId)
            in try await connection.send(query, logger: logger)
            .decode((String, String, String, String, String, String, Int64, Int64, String?, Int64?, String?, String?).self) {
            var a = Approval(id: id, from: try Self.address(payer), to: try Self.address(payee), amount: try Self.amount(amount),
                             status: ApprovalStatus(rawValue: status) ?? .pending, reason: reason,
                             requestedAtMilliseconds: UInt64(clamping: requestedAt), expiresAtMilliseconds: UInt64(clamping: expiresAt),
                             decidedBy: decidedBy, decidedAtMilliseconds: decidedAt.map { UInt64(clamping: $0) }, decisionReason: decisionReason,
                             confirmationId: confirmationId)
            if a.status == .pending && a.expiresAtMilliseconds <= now { a.status = .expired }
            out.append(a)
        }
        return out
    }

    /// The account's latest payments either way, newest first; each side walks its own
    /// (party, created_at) index.
    public func recentPayments(_ address: TONAddress, limit: Int) async throws -> [PaymentSummary] {
        let logger = self.logger, raw = address.raw, n = Int64(limit)
        return try await withConnection { connection in
            var out: [PaymentSummary] = []
            for try await (payer, payee, amount, status, createdAt, confirmationId, approvalId) in try await connection.send("""
                SELECT payer, payee, amount::text, status, created_at, confirmation_id, approval_id FROM (
                    (SELECT seq, payer, payee, amount, status, created_at, confirmation_id, approval_id FROM payments
                      WHERE payer = \(raw) ORDER BY created_at DESC, seq DESC LIMIT \(n))
                    UNION ALL
                    (SELECT seq, payer, payee, amount, status, created_at, confirmation_id, approval_id FROM payments
                      WHERE payee = \(raw) AND payer <> \(raw) ORDER BY created_at DESC, seq DESC LIMIT \(n))) p
                ORDER BY created_at DESC, seq DESC LIMIT \(n)
                """, logger: logger).decode((String, String, String, String, Int64, String?, String?).self) {
                guard let status = PaymentStatus(rawValue: status) else { throw NanoPayError(.internalError, "a payment row has an unknown status") }
                out.append(PaymentSummary(from: try Self.address(payer), to: try Self.address(payee), amount: try Self.amount(amount), status: status,
                                          createdAtMilliseconds: UInt64(clamping: createdAt), confirmationId: confirmationId, approvalId: approvalId))
            }
            return out
        }
    }

    public func pendingApprovalCount() async throws -> Int {
        let now = Int64(clamping: configuration.clock.nowMilliseconds())
        let logger = self.logger
        return try await withConnection { connection in
            for try await n in try await connection.send(
                "SELECT count(*) FROM approvals WHERE kind = 'approval' AND status = 'pending' AND expires_at > \(now)", logger: logger
            ).decode(Int64.self) { return Int(n) }
            return 0
        }
    }

    static func bindings(_ values: [String]) -> PostgresBindings {
        var b = PostgresBindings()
        for v in values { b.append(v) }
        return b
    }
}

struct IdentifierBinding: Sendable {
    var payer: String
    var nonce: [UInt8]
}
