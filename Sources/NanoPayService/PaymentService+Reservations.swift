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
    /// A gateway passes its own upstream timeout plus a margin; buyers must sign a validBefore at
    /// least that far ahead.
    public static let reservationTimeoutSecondsDefault: UInt64 = 60
    public static let reservationTimeoutSecondsMax: UInt64 = 3600

    /// Reserves an authorization: every check of `verify` (signature, expiry, nonce, policy, rate
    /// limits, balance), then a hold instead of a debit, for exactly `timeoutSeconds` (an
    /// authorization that expires sooner is `authorization_expires_too_soon`). The authorization must be unused: one
    /// already reserved, settled or held is `authorization_in_use`, and the caller learns no token.
    /// So a buyer who reserves its own authorization first only blocks its own request.
    public func reserve(_ fields: AuthorizationFields, timeoutSeconds: UInt64 = reservationTimeoutSecondsDefault)
        async throws(NanoPayError) -> ReservationOutcome {
        guard (1...Self.reservationTimeoutSecondsMax).contains(timeoutSeconds) else {
            throw .invalid("timeoutSeconds must be 1 to \(Self.reservationTimeoutSecondsMax)")
        }
        let request = try await prepare(fields)
        // The hold must last as long as asked: one cut short by the buyer's own validBefore would
        // expire while the gateway forwards, and the buyer would keep a response nobody paid for.
        let (endMs, overflow) = clock.nowMilliseconds().addingReportingOverflow(timeoutSeconds * 1000)
        let (validBeforeMs, big) = request.authorization.validBefore.multipliedReportingOverflow(by: 1000)
        guard big || (!overflow && validBeforeMs >= endMs) else {
            throw NanoPayError(.authorizationExpiresTooSoon,
                               "the authorization is valid until \(request.authorization.validBefore), before the \(timeoutSeconds) s reservation would end; sign a later validBefore")
        }
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
