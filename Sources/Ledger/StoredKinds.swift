// A payment row's `status` is the domain's `PaymentStatus` (NanoPayCore), stored by raw value.

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
