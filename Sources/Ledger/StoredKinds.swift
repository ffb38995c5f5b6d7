/// The states of a payment row, as stored (`payments.status`).
enum PaymentStatus: String {
    case settled, held, approved, rejected, expired
}

/// The kinds of movement in `transfers` (a settled payment is its own row in `payments`).
enum TransferKind: String {
    case deposit, hold, post, void, expire, withdrawal
}

/// Which side of a payment a GCRA rate limit counts (`rate_state.direction`).
enum RateDirection: String {
    /// The address pays.
    case outgoing = "out"
    /// The address is paid.
    case incoming = "in"

    var party: String { self == .outgoing ? "payer" : "payee" }
}
