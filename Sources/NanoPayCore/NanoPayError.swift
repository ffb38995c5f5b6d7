/// The stable error codes of the CyberNanoPay API. The raw value is the wire code clients match on;
/// it never changes once published. HTTP statuses are mapped in the HTTP layer.
public enum ErrorCode: String, Sendable, Codable, CaseIterable {
    case invalidRequest = "invalid_request"
    case invalidSignature = "invalid_signature"
    case insufficientBalance = "insufficient_balance"
    case unknownPayer = "unknown_payer"
    case approvalRequired = "approval_required"
    case approvalRejected = "approval_rejected"
    case approvalExpired = "approval_expired"
    case approvalNotFound = "approval_not_found"
    case alreadyApproved = "already_approved"
    case alreadyRejected = "already_rejected"
    case nonceReused = "nonce_reused"
    case expired = "expired"
    case rateLimited = "rate_limited"
    case referenceConflict = "reference_conflict"
    case publicKeyConflict = "public_key_conflict"
    case policyNotFound = "policy_not_found"
    case policyNotTighter = "policy_not_tighter"
    /// A payer-signed policy request names a policy version that is not the current one (it
    /// was applied already, or the policy changed since it was signed).
    case policyConflict = "policy_conflict"
    /// An x402 payment identifier is already bound to another payment.
    case paymentIdentifierConflict = "payment_identifier_conflict"
    case receiptNotFound = "receipt_not_found"
    /// The payment already bought a ticket for other terms (audience, scope, lifetime or uses).
    case ticketTermsConflict = "ticket_terms_conflict"
    /// The authorization is already reserved, settled or held: a reservation needs an unused one.
    case authorizationInUse = "authorization_in_use"
    case reservationNotFound = "reservation_not_found"
    /// A reservation resolves once: captured, it cannot be voided, and the reverse.
    case alreadyCaptured = "already_captured"
    case alreadyVoided = "already_voided"
    case reservationExpired = "reservation_expired"
    /// The authorization's validBefore comes before the reservation would end: a gateway would
    /// forward on a hold that expires under it (and the buyer would keep a free response).
    case authorizationExpiresTooSoon = "authorization_expires_too_soon"
    case unsupportedVersion = "unsupported_version"
    case amountOverflow = "amount_overflow"
    case unauthorized = "unauthorized"
    case forbidden = "forbidden"
    case notFound = "not_found"
    case methodNotAllowed = "method_not_allowed"
    case payloadTooLarge = "payload_too_large"
    case storageUnavailable = "storage_unavailable"
    /// The ledger's write queue is full; retry after `retryAfterSeconds`.
    case overloaded = "overloaded"
    case internalError = "internal_error"
}

/// An operating error: a value returned to the caller, never a crash.
public struct NanoPayError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    /// Seconds until a rate-limited request may be retried.
    public var retryAfterSeconds: UInt64?

    public init(_ code: ErrorCode, _ message: String, retryAfterSeconds: UInt64? = nil) {
        self.code = code; self.message = message; self.retryAfterSeconds = retryAfterSeconds
    }

    /// Any error as an operating error; what is not already one becomes `internal_error`.
    public static func wrap(_ error: any Error) -> NanoPayError {
        error as? NanoPayError ?? NanoPayError(.internalError, "internal error")
    }

    public static func invalid(_ message: String) -> NanoPayError { NanoPayError(.invalidRequest, message) }

    public var description: String { "\(code.rawValue): \(message)" }
}
