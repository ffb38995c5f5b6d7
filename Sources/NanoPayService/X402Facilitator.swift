import Ledger
import NanoPayCore

/// The x402 v2 facilitator API over the payment service, so an x402 SDK resource server can use
/// CyberNanoPay as its facilitator (`/x402/verify`, `/x402/settle`, `/x402/supported`).
///
/// Verify checks everything and changes nothing; settle debits exactly once (settling one payload
/// again returns the same transaction). Failures are values with stable snake_case reasons.
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
        do { fields = try authorization(of: request) } catch {
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
        do { fields = try authorization(of: request) } catch {
            return X402.SettleResponse(success: false, transaction: "", network: network, payer: error.payer,
                                       errorReason: error.reason, errorMessage: error.message)
        }
        let payer = (try? TONAddress(parsing: fields.from))?.raw
        do {
            switch try await service.verify(fields) {
            case .settled(let receipt, _):
                return Self.settled(receipt, network: network)
            case .held(let approvalId, let expiresAt):
                // Not paid yet: pending, with the hold as the transaction to follow up on.
                return X402.SettleResponse(success: false, transaction: approvalId, network: network, payer: payer,
                                           errorReason: "settlement_pending", errorMessage: "held for human approval",
                                           extra: ["approvalId": .string(approvalId), "expiresAt": .number(Double(expiresAt / 1000))])
            }
        } catch {
            let e = NanoPayError.wrap(error)
            return X402.SettleResponse(success: false, transaction: "", network: network, payer: payer,
                                       errorReason: Self.reason(e), errorMessage: e.message)
        }
    }

    /// The PAYMENT-RESPONSE for a posted payment: the confirmation id is the transaction and the
    /// signed receipt travels in `extra.receipt`.
    public static func settled(_ receipt: Receipt, network: String) -> X402.SettleResponse {
        X402.SettleResponse(success: true, transaction: receipt.confirmationId, network: network, payer: receipt.from,
                            amount: receipt.amount.description,
                            extra: ["receipt": receipt.jsonValue, "remainingBalance": .string(receipt.remainingBalance.description)])
    }
}
