/// What reserving an authorization came to in the ledger.
public enum ReservationRecord: Sendable, Equatable {
    /// The funds are held until the reservation is captured, voided or expires.
    case reserved(id: String, expiresAtMilliseconds: UInt64)
    /// Policy held the payment for a human (HITL takes precedence over reservations).
    case held(approvalId: String, expiresAtMilliseconds: UInt64)
}

/// What resolving a reservation came to.
public enum ReservationResolution: Sendable, Equatable {
    /// Posted: the payment's facts. `replayed` when it was captured before (an idempotent retry).
    case captured(SettledPayment, replayed: Bool)
    /// Voided: the funds went back. `replayed` when it was voided before.
    case voided(replayed: Bool)
}
