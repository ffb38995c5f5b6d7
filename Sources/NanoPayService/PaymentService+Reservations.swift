import NanoPayCore

/// A reservation of a buyer's authorization: its funds are held until the caller that made it
/// captures it (the upstream delivered) or voids it (it did not), or until it expires.
public struct Reservation: Sendable, Equatable {
    public var id: String
    /// 64 hex characters, handed to the caller that reserved and to no one else; the ledger keeps
    /// only its SHA-256. Whoever holds it can capture or void, so it is a secret.
    public var captureToken: String
    public var expiresAtMilliseconds: UInt64
    public var payer: TONAddress
    public var payee: TONAddress
    public var amount: Amount
}

public enum ReservationOutcome: Sendable, Equatable {
    case reserved(Reservation)
    /// Policy held the payment for a human (HITL takes precedence over reservations).
    case held(approvalId: String, expiresAtMilliseconds: UInt64)
}

extension PaymentService {
    public static let reservationTimeoutSecondsDefault: UInt64 = 660
    public static let reservationTimeoutSecondsMax: UInt64 = 3600

    /// Reserves an authorization: every check of `verify` (signature, expiry, nonce, policy, rate
    /// limits, balance), then a hold instead of a debit. The authorization must be unused: one
    /// already reserved, settled or held is `authorization_in_use`, and the caller learns no token.
    /// So a buyer who reserves its own authorization first only blocks its own request.
    public func reserve(_ fields: AuthorizationFields, timeoutSeconds: UInt64 = reservationTimeoutSecondsDefault)
        async throws(NanoPayError) -> ReservationOutcome {
        guard (1...Self.reservationTimeoutSecondsMax).contains(timeoutSeconds) else {
            throw .invalid("timeoutSeconds must be 1 to \(Self.reservationTimeoutSecondsMax)")
        }
        let request = try await prepare(fields)
        let token = Sodium.randomBytes(32)
        let record = try await store {
            try await ledger.reservePayment(request, holdTimeoutSeconds: configuration.approvalTimeoutSeconds,
                                            reservationTimeoutSeconds: timeoutSeconds, captureTokenHash: Sodium.sha256(token))
        }
        switch record {
        case .held(let id, let expires):
            return .held(approvalId: id, expiresAtMilliseconds: expires)
        case .reserved(let id, let expires):
            let auth = request.authorization
            return .reserved(Reservation(id: id, captureToken: Hex.encode(token), expiresAtMilliseconds: expires,
                                         payer: auth.from, payee: auth.to, amount: auth.amount))
        }
    }

    /// Captures a reservation: the payment is posted and its receipt signed. A retry with the
    /// token gets the same receipt (`replayed`).
    public func capture(reservationId: String, captureToken: String) async throws(NanoPayError) -> (receipt: Receipt, replayed: Bool) {
        let hash = try Self.tokenHash(captureToken)
        switch try await store({ try await ledger.resolveReservation(id: reservationId, captureTokenHash: hash, capture: true) }) {
        case .captured(let payment, let replayed):
            let r = receipt(payment)
            if !replayed { stats.record(.settled(receipt: r, replayed: false)) }
            return (r, replayed)
        case .voided: throw NanoPayError(.internalError, "a capture voided")
        }
    }

    /// Voids a reservation: the funds go back to the payer. Returns whether it was voided before.
    public func void(reservationId: String, captureToken: String) async throws(NanoPayError) -> Bool {
        let hash = try Self.tokenHash(captureToken)
        switch try await store({ try await ledger.resolveReservation(id: reservationId, captureTokenHash: hash, capture: false) }) {
        case .voided(let replayed): return replayed
        case .captured: throw NanoPayError(.internalError, "a void captured")
        }
    }

    static func tokenHash(_ token: String) throws(NanoPayError) -> [UInt8] {
        guard let bytes = Hex.decode(token, byteCount: 32) else { throw .invalid("captureToken must be 64 hex characters") }
        return Sodium.sha256(bytes)
    }
}
