import NanoPayCore

extension LedgerTransaction {
    func reserve(_ request: PaymentRequest, holdTimeoutSeconds: UInt64, reservationTimeoutSeconds: UInt64,
                 captureTokenHash: [UInt8]) throws -> ReservationRecord {
        switch try record(request, holdTimeoutSeconds: holdTimeoutSeconds,
                          reservation: ReservationTerms(timeoutSeconds: reservationTimeoutSeconds, captureTokenHash: captureTokenHash)) {
        case .reservation(let id, let expires): return .reserved(id: id, expiresAtMilliseconds: expires)
        case .payment(.held(let id, let expires)): return .held(approvalId: id, expiresAtMilliseconds: expires)
        case .payment(.settled): throw NanoPayError(.internalError, "a reservation was settled")
        }
    }

    /// Captures or voids a reservation for the holder of its token. Resolution happens once; the
    /// same resolution again answers again (a retry after a lost answer), the other is refused.
    func resolveReservation(_ id: String, captureTokenHash: [UInt8], capture: Bool) throws -> ReservationResolution {
        // Due reservations were already expired at the start of this batch (`expireDueHolds`, with
        // the same clock reading), so a pending one here is still live.
        let s = try db.statement("SELECT status, capture_token_hash, confirmation_id FROM approvals WHERE id = ? AND kind = 'reservation'")
        s.bind(1, id)
        guard try s.step() else { throw NanoPayError(.reservationNotFound, "no reservation with id \(id)") }
        let status = ApprovalStatus(rawValue: s.text(0) ?? ""), stored = s.blob(1) ?? [], confirmationId = s.text(2)
        s.reset()
        // The token decides before anything else is told: a caller without it learns nothing.
        guard stored.count == 32, captureTokenHash.count == 32, Sodium.constantTimeEqual(stored, captureTokenHash) else {
            throw NanoPayError(.forbidden, "the capture token does not match this reservation")
        }
        switch status {
        case .approved?:
            guard capture else { throw NanoPayError(.alreadyCaptured, "reservation \(id) was already captured; it cannot be voided") }
            return .captured(try settledPayment(confirmationId ?? ""), replayed: true)
        case .rejected?:
            guard !capture else { throw NanoPayError(.alreadyVoided, "reservation \(id) was already voided; it cannot be captured") }
            return .voided(replayed: true)
        case .expired?:
            throw NanoPayError(.reservationExpired, "reservation \(id) expired; its funds went back to the payer")
        case .pending?:
            if capture {
                guard let settled = try resolve(id, to: .approved, by: "reservation:capture", reason: nil) else {
                    throw NanoPayError(.internalError, "capture posted nothing")
                }
                return .captured(settled, replayed: false)
            }
            try resolve(id, to: .rejected, by: "reservation:void", reason: nil)
            return .voided(replayed: false)
        case nil:
            throw NanoPayError(.internalError, "reservation \(id) has an unknown status")
        }
    }
}
