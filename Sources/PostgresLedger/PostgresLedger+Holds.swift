import NanoPayCore
import PostgresNIO

extension PostgresLedger {
    /// Approves (posts) or rejects (voids) a pending hold, exactly once across replicas: the
    /// hold's row is locked first, then `np_resolve_hold` locks its accounts in address order.
    public func decideHold(approvalId: String, approve: Bool, by: String, reason: String?) async throws -> (Approval, SettledPayment?) {
        try await expireDueHoldsFirst()
        let now = Int64(clamping: configuration.clock.nowMilliseconds())
        let writer = writerId, logger = self.logger
        let expired = try await withTransaction { connection -> Bool in
            var found: (String, Int64)?
            for try await row in try await connection.send(
                "SELECT status, expires_at FROM approvals WHERE id = \(approvalId) AND kind = 'approval' FOR UPDATE", logger: logger
            ).decode((String, Int64).self) { found = row }
            guard let (status, expiresAt) = found else { throw NanoPayError(.approvalNotFound, "no approval with id \(approvalId)") }
            switch status {
            case "approved": throw NanoPayError(.alreadyApproved, "approval \(approvalId) was already approved")
            case "rejected": throw NanoPayError(.alreadyRejected, "approval \(approvalId) was already rejected")
            case "expired": throw NanoPayError(.approvalExpired, "approval \(approvalId) expired before a decision")
            default: break
            }
            if expiresAt <= now {
                // Past its window: it expires now (committed), and the decision is refused.
                try await connection.run("SELECT np_resolve_hold(\(approvalId), 'expired', 'system:expiry', 'approval window ended', \(now), \(writer))", logger: logger)
                return true
            }
            let target = approve ? "approved" : "rejected"
            try await connection.run("SELECT np_resolve_hold(\(approvalId), \(target), \(by), \(reason), \(now), \(writer))", logger: logger)
            return false
        }
        try? await refreshTotals()
        if expired { throw NanoPayError(.approvalExpired, "approval \(approvalId) expired before a decision") }
        return try await approval(id: approvalId)
    }

    /// Captures or voids a reservation for the holder of its token, once; the same resolution
    /// again answers again, the other is refused.
    public func resolveReservation(id: String, captureTokenHash: [UInt8], capture: Bool) async throws -> ReservationResolution {
        try await expireDueHoldsFirst()
        let now = Int64(clamping: configuration.clock.nowMilliseconds())
        let writer = writerId, logger = self.logger
        enum Step: Sendable { case captured(String, replayed: Bool), voided(replayed: Bool), expired }
        let step = try await withTransaction { connection -> Step in
            var found: (String, ByteBuffer?, String?, Int64)?
            for try await row in try await connection.send(
                "SELECT status, capture_token_hash, confirmation_id, expires_at FROM approvals WHERE id = \(id) AND kind = 'reservation' FOR UPDATE",
                logger: logger
            ).decode((String, ByteBuffer?, String?, Int64).self) { found = row }
            guard let (status, storedBuffer, confirmationId, expiresAt) = found else {
                throw NanoPayError(.reservationNotFound, "no reservation with id \(id)")
            }
            // The token decides before anything else is told: a caller without it learns nothing.
            let stored = storedBuffer.map { Array($0.readableBytesView) } ?? []
            guard stored.count == 32, captureTokenHash.count == 32, Sodium.constantTimeEqual(stored, captureTokenHash) else {
                throw NanoPayError(.forbidden, "the capture token does not match this reservation")
            }
            switch status {
            case "approved":
                guard capture else { throw NanoPayError(.alreadyCaptured, "reservation \(id) was already captured; it cannot be voided") }
                return .captured(confirmationId ?? "", replayed: true)
            case "rejected":
                guard !capture else { throw NanoPayError(.alreadyVoided, "reservation \(id) was already voided; it cannot be captured") }
                return .voided(replayed: true)
            case "expired":
                throw NanoPayError(.reservationExpired, "reservation \(id) expired; its funds went back to the payer")
            default:
                break
            }
            if expiresAt <= now {
                try await connection.run("SELECT np_resolve_hold(\(id), 'expired', 'system:expiry', 'approval window ended', \(now), \(writer))", logger: logger)
                return .expired
            }
            if capture {
                for try await cid in try await connection.send(
                    "SELECT np_resolve_hold(\(id), 'approved', 'reservation:capture', NULL, \(now), \(writer))", logger: logger
                ).decode(String.self) { return .captured(cid, replayed: false) }
                throw NanoPayError(.internalError, "capture posted nothing")
            }
            try await connection.run("SELECT np_resolve_hold(\(id), 'rejected', 'reservation:void', NULL, \(now), \(writer))", logger: logger)
            return .voided(replayed: false)
        }
        switch step {
        case .expired:
            try? await refreshTotals()
            throw NanoPayError(.reservationExpired, "reservation \(id) expired; its funds went back to the payer")
        case .voided(let replayed):
            if !replayed { try? await refreshTotals() }
            return .voided(replayed: replayed)
        case .captured(let confirmationId, let replayed):
            if !replayed { try? await refreshTotals() }
            guard let settled = try await settledPayment(confirmationId: confirmationId) else {
                throw NanoPayError(.internalError, "captured payment \(confirmationId) is missing")
            }
            return .captured(settled, replayed: replayed)
        }
    }

    /// As every batch of the embedded engine does, a write first expires the holds that are due
    /// (in a transaction of its own: expiry is idempotent, and a separate transaction keeps this
    /// write's own locks in their usual order).
    func expireDueHoldsFirst() async throws(NanoPayError) {
        do { try await sweepExpiredHolds() } catch { throw NanoPayError.wrap(error) }
    }

    /// Expires every due hold; any number of replicas may sweep at once (SKIP LOCKED).
    public func sweepExpiredHolds() async throws {
        let now = Int64(clamping: configuration.clock.nowMilliseconds())
        let writer = writerId, logger = self.logger
        var swept = 0
        repeat {
            swept = try await withConnection { connection in
                var n = 0
                for try await count in try await connection.send("SELECT np_expire_due(\(now), \(writer), 500)", logger: logger).decode(Int32.self) {
                    n = Int(count)
                }
                return n
            }
        } while swept == 500
    }
}
