import NanoPayCore

/// The x402 v2 facilitator API over the payment service, so an x402 SDK resource server can use
/// CyberNanoPay as its facilitator (`/x402/verify`, `/x402/settle`, `/x402/supported`).
///
/// Verify checks everything and changes nothing. Settle debits at most once: the first settle of
/// an authorization answers `success: true`; any later settle of it answers `success: false`,
/// `nonce_already_used`, because an x402 resource server serves one response per successful
/// settle, and a PAYMENT-SIGNATURE replayed N times must not buy N responses.
///
/// The x402 `payment-identifier` extension is the one exception, and it is the client's stated
/// intent: a settle that repeats the id *and* the payload of an earlier settle gets that
/// settle's original answer, marked `repeated: true` in `extensions["payment-identifier"]` so
/// the resource server can tell a retry from a first settle; the same id on another payload is
/// refused (`payment_identifier_conflict`). Verify stays strict either way (a settled payload is
/// never `isValid`), so a server that ignores the extension still serves once.
/// Failures are values with stable snake_case reasons.
public struct X402Facilitator: Sendable {
    public let service: PaymentService

    public init(service: PaymentService) { self.service = service }

    /// Why a facilitator request is refused.
    struct Refusal: Error {
        var reason: String
        var message: String
        var payer: String?
    }

    /// The offer this service settles.
    public var kind: X402.SupportedResponse.Kind {
        X402.SupportedResponse.Kind(x402Version: X402.version, scheme: X402.scheme, network: service.configuration.network,
                                    extra: ["name": .string("CyberNanoPay"), "asset": .string(service.configuration.asset),
                                            "enclavePublicKey": .string(Hex.encode(service.enclave.publicKey))])
    }

    public func supported() -> X402.SupportedResponse {
        X402.SupportedResponse(kinds: [kind], extensions: [], signers: ["tvm:*": [Hex.encode(service.enclave.publicKey)]])
    }

    /// Checks the request's shape and that the authorization pays exactly what the requirements ask.
    func authorization(of request: X402.FacilitatorRequest) throws(Refusal) -> AuthorizationFields {
        let requirements = request.paymentRequirements
        guard request.x402Version == X402.version, request.paymentPayload.x402Version == X402.version else {
            throw Refusal(reason: "invalid_x402_version", message: "x402Version must be 2")
        }
        guard requirements.scheme == X402.scheme else { throw Refusal(reason: "unsupported_scheme", message: "scheme must be \(X402.scheme)") }
        guard requirements.network == service.configuration.network else {
            throw Refusal(reason: "invalid_network", message: "this facilitator settles \(service.configuration.network) only")
        }
        guard requirements.asset == service.configuration.asset else {
            throw Refusal(reason: "asset_mismatch", message: "this facilitator settles \(service.configuration.asset) only")
        }
        if let accepted = request.paymentPayload.accepted {
            guard accepted.scheme == requirements.scheme, accepted.network == requirements.network, accepted.asset == requirements.asset,
                  accepted.amount == requirements.amount, accepted.payTo == requirements.payTo else {
                throw Refusal(reason: "invalid_payment_requirements", message: "the payload's accepted offer differs from the requirements")
            }
        }
        let fields: AuthorizationFields
        do { fields = try request.paymentPayload.authorizationFields() } catch {
            throw Refusal(reason: "invalid_payload", message: error.message)
        }
        guard let required = try? Amount(parsing: requirements.amount, allowZero: false) else {
            throw Refusal(reason: "invalid_payment_requirements", message: "requirements.amount is not a canonical positive amount")
        }
        guard let payTo = try? TONAddress(parsing: requirements.payTo) else {
            throw Refusal(reason: "invalid_payment_requirements", message: "requirements.payTo is not a TON address")
        }
        let payer = (try? TONAddress(parsing: fields.from))?.raw
        guard let amount = try? Amount(parsing: fields.amount, allowZero: false), amount == required else {
            throw Refusal(reason: "amount_mismatch", message: "the authorization's amount is not the required amount", payer: payer)
        }
        guard let to = try? TONAddress(parsing: fields.to), to == payTo else {
            throw Refusal(reason: "recipient_mismatch", message: "the authorization does not pay requirements.payTo", payer: payer)
        }
        return fields
    }

    /// The `payment-identifier` extension's id (`extensions["payment-identifier"].info.id`), if
    /// the payload carries one: 16 to 128 characters of `[A-Za-z0-9_-]`, as the extension says.
    static func paymentIdentifier(of payload: X402.PaymentPayload) throws(Refusal) -> String? {
        guard let ext = payload.extensions?[paymentIdentifierExtension], let info = ext["info"], let value = info["id"] else { return nil }
        guard let id = value.stringValue, (16...128).contains(id.utf8.count),
              id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d || $0 == 0x5f })
        else { throw Refusal(reason: "invalid_payment_identifier", message: "payment-identifier id must be 16 to 128 characters of A-Z, a-z, 0-9, - and _") }
        return id
    }

    public static let paymentIdentifierExtension = "payment-identifier"

    /// Stable reasons for the service's error codes (x402 spelling where one exists).
    static func reason(_ error: NanoPayError) -> String {
        switch error.code {
        case .insufficientBalance: return "insufficient_funds"
        case .invalidRequest: return "invalid_payload"
        case .nonceReused: return "nonce_already_used"
        case .expired: return "authorization_expired"
        default: return error.code.rawValue
        }
    }

    public func verify(_ request: X402.FacilitatorRequest) async -> X402.VerifyResponse {
        let fields: AuthorizationFields
        do {
            fields = try authorization(of: request)
            _ = try Self.paymentIdentifier(of: request.paymentPayload)
        } catch {
            return X402.VerifyResponse(isValid: false, invalidReason: error.reason, invalidMessage: error.message, payer: error.payer)
        }
        let payer = (try? TONAddress(parsing: fields.from))?.raw
        do {
            switch try await service.check(fields) {
            case .settled(_, replayed: false):
                return X402.VerifyResponse(isValid: true, payer: payer)
            case .settled(_, replayed: true):
                return X402.VerifyResponse(isValid: false, invalidReason: "nonce_already_used", invalidMessage: "this authorization was already settled", payer: payer)
            case .held:
                return X402.VerifyResponse(isValid: false, invalidReason: "approval_required", invalidMessage: "policy holds this payment for human approval", payer: payer)
            }
        } catch {
            let e = NanoPayError.wrap(error)
            return X402.VerifyResponse(isValid: false, invalidReason: Self.reason(e), invalidMessage: e.message, payer: payer)
        }
    }

    public func settle(_ request: X402.FacilitatorRequest) async -> X402.SettleResponse {
        let network = service.configuration.network
        let fields: AuthorizationFields
        let identifier: String?
        do {
            fields = try authorization(of: request)
            identifier = try Self.paymentIdentifier(of: request.paymentPayload)
        } catch {
            return X402.SettleResponse(success: false, transaction: "", network: network, payer: error.payer,
                                       errorReason: error.reason, errorMessage: error.message)
        }
        let payer = (try? TONAddress(parsing: fields.from))?.raw
        do {
            switch try await service.verify(fields, paymentIdentifier: identifier) {
            case .settled(let receipt, replayed: false):
                return Self.settled(receipt, network: network, paymentIdentifier: identifier, repeated: false)
            case .settled(let receipt, replayed: true):
                // Settled before. Only a repeat of the same payment identifier (bound to this
                // authorization when it was first settled) gets the original answer.
                if let identifier, try await service.paymentIdentifier(identifier, boundTo: fields) {
                    return Self.settled(receipt, network: network, paymentIdentifier: identifier, repeated: true)
                }
                return X402.SettleResponse(success: false, transaction: "", network: network, payer: payer,
                                           errorReason: "nonce_already_used", errorMessage: "this authorization was already settled; sign a new one")
            case .held(let approvalId, let expiresAtMilliseconds):
                // Not paid yet: pending, with the hold as the transaction to follow up on.
                return X402.SettleResponse(success: false, transaction: approvalId, network: network, payer: payer,
                                           errorReason: "settlement_pending", errorMessage: "held for human approval",
                                           extra: ["approvalId": .string(approvalId), "expiresAt": .number(Double(expiresAtMilliseconds / 1000))])
            }
        } catch {
            let e = NanoPayError.wrap(error)
            return X402.SettleResponse(success: false, transaction: "", network: network, payer: payer,
                                       errorReason: Self.reason(e), errorMessage: e.message)
        }
    }

    /// The PAYMENT-RESPONSE for a posted payment: the confirmation id is the transaction and the
    /// signed receipt travels in `extra.receipt`. With a payment identifier, `extensions` says
    /// whether this answer repeats an earlier settle.
    public static func settled(_ receipt: Receipt, network: String, paymentIdentifier: String? = nil, repeated: Bool = false) -> X402.SettleResponse {
        X402.SettleResponse(settled: receipt, network: network, extensions: paymentIdentifier.map {
            [paymentIdentifierExtension: .object(["id": .string($0), "repeated": .bool(repeated)])]
        })
    }
}
