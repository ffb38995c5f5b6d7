import Foundation
import HTTPTypes
import Hummingbird
import NanoPayClient
import NanoPayCore

/// A payment the middleware verified, for the route handler.
public struct VerifiedPayment: Sendable, Equatable {
    public var confirmationId: String
    public var payer: String
    public var amount: Amount
    public var receipt: Receipt
}

/// A request context that can carry the verified payment to the handler.
public protocol PaymentRequestContext: RequestContext {
    var payment: VerifiedPayment? { get set }
}

/// A ready-made context for sellers.
public struct NanoPayRequestContext: PaymentRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var payment: VerifiedPayment?
    /// Set by `RequireTicketMiddleware` on a ticket-mode route.
    public var ticket: TicketClaims?
    public init(source: Source) {
        coreContext = .init(source: source)
        payment = nil
        ticket = nil
    }
}

/// Why a seller's payment set-up is refused before it serves anything.
public struct SellerConfigurationError: Error, CustomStringConvertible {
    public var description: String
}

/// The Swift counterpart of CyberNanoPay's `requirePayment({amount, to})` for Hummingbird.
///
/// - No or undecodable PAYMENT-SIGNATURE: 402 with PAYMENT-REQUIRED and a JSON body.
/// - A signature whose `accepted` offer is not one of this route's offers (scheme, network,
///   asset, amount, payTo), or whose authorization does not pay that offer: 402, and the
///   service is not called.
/// - While the service is not attested (`ServiceTrust.trusted` is nil): 503, service not called.
/// - Otherwise the service verifies and debits, and its receipt must prove this payment
///   (`ReceiptCheck`): signed by the attested key, equal to the presented authorization field by
///   field, on the attested network and asset, fresh, and not served before by this process.
///   The service's `replayed` flag is a hint only. Held payments answer 402 `approval_required`.
/// - Paid: the handler sees `context.payment`, and the response carries PAYMENT-RESPONSE.
public struct RequirePaymentMiddleware<Context: PaymentRequestContext>: RouterMiddleware {
    public let offers: [X402.PaymentRequirements]
    public let verifier: any PaymentVerifier
    public let trust: any ServiceTrust
    public let receiptCheck: ReceiptCheck
    public let description: String?
    let clock: any NanoClock

    /// - Parameters:
    ///   - offers: what this route accepts; each must be on the network and asset the service
    ///     settles (checked here, so a mistake fails at start-up, not at the first buyer).
    ///   - verifier: how to reach CyberNanoPay.
    ///   - trust: what receipts are checked against: a `PinnedService` (attested, refreshed) or
    ///     `FixedTrust` for a service embedded in this process.
    ///   - receiptCheck: freshness window (default 60 s) and the seen-payments store.
    public init(offers: [X402.PaymentRequirements], verifier: any PaymentVerifier, trust: any ServiceTrust,
                receiptCheck: ReceiptCheck = ReceiptCheck(), description: String? = nil, clock: any NanoClock = SystemClock()) throws {
        guard !offers.isEmpty else { throw SellerConfigurationError(description: "a paid route needs at least one offer") }
        guard let trusted = trust.trusted else { throw SellerConfigurationError(description: "the payment service is not attested") }
        for offer in offers {
            guard offer.scheme == X402.scheme else { throw SellerConfigurationError(description: "offer scheme \(offer.scheme) is not \(X402.scheme)") }
            guard offer.network == trusted.network, offer.asset == trusted.asset else {
                throw SellerConfigurationError(description: "offer on \(offer.network)/\(offer.asset), but the attested service settles \(trusted.network)/\(trusted.asset) only")
            }
            guard (try? TONAddress(parsing: offer.payTo)) != nil else { throw SellerConfigurationError(description: "offer payTo \(offer.payTo) is not a TON address") }
            guard let amount = try? Amount(parsing: offer.amount, allowZero: false), amount.description == offer.amount else {
                throw SellerConfigurationError(description: "offer amount \(offer.amount) is not a canonical positive amount")
            }
        }
        self.offers = offers; self.verifier = verifier; self.trust = trust; self.receiptCheck = receiptCheck
        self.description = description; self.clock = clock
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[HTTPField.Name(X402.paymentSignatureHeader)!] else {
            return paymentRequired(request, error: "Payment required")
        }
        let payload: X402.PaymentPayload
        let fields: AuthorizationFields
        do {
            payload = try X402.decodeHeader(X402.PaymentPayload.self, from: header)
            fields = try payload.authorizationFields()
        } catch {
            return paymentRequired(request, error: "Payment required")
        }
        guard let offer = matchingOffer(payload.accepted), pays(fields, offer) else {
            return paymentRequired(request, error: "No matching payment requirements")
        }
        guard let trusted = trust.trusted else {
            return paymentRequired(request, error: "service_not_attested", message: "the payment service is not attested right now; retry later",
                                   status: .serviceUnavailable)
        }
        let answer: VerifierAnswer
        do { answer = try await verifier.verify(fields) } catch {
            return paymentRequired(request, error: "payment service unavailable", status: .serviceUnavailable)
        }
        switch answer {
        case .refused(let code, let message):
            return paymentRequired(request, error: code, message: message)
        case .held(let approvalId, let expiresAtSeconds):
            return paymentRequired(request, error: "approval_required", message: "held for human approval",
                                   extra: ["approvalId": .string(approvalId), "expiresAt": .number(Double(expiresAtSeconds))])
        case .paid(let receipt, _):
            if let refusal = receiptCheck.accept(receipt, for: fields, offer: offer, trusted: trusted, nowSeconds: clock.nowSeconds()) {
                return paymentRequired(request, error: refusal.code, message: refusal.message,
                                       status: refusal.code == "seller_busy" ? .serviceUnavailable : PaymentRequiredAnswer.paymentRequired)
            }
            var context = context
            context.payment = VerifiedPayment(confirmationId: receipt.confirmationId, payer: receipt.from, amount: receipt.amount, receipt: receipt)
            var response = try await next(request, context)
            let settle = X402.SettleResponse(settled: receipt, network: offer.network)
            response.headers[HTTPField.Name(X402.paymentResponseHeader)!] = X402.encodeHeader(settle)
            response.headers[.accessControlExposeHeaders] = X402.paymentResponseHeader
            return response
        }
    }

    func matchingOffer(_ accepted: X402.PaymentRequirements?) -> X402.PaymentRequirements? { OfferMatch.matching(accepted, in: offers) }
    func pays(_ fields: AuthorizationFields, _ offer: X402.PaymentRequirements) -> Bool { OfferMatch.pays(fields, offer) }

    func paymentRequired(_ request: Request, error: String, message: String? = nil,
                         status: HTTPResponse.Status = PaymentRequiredAnswer.paymentRequired, extra: [String: JSONValue] = [:]) -> Response {
        PaymentRequiredAnswer.make(request, offers: offers, description: description, error: error, message: message, status: status, extra: extra)
    }
}

/// How a presented payment is matched to a route's offers (the middleware and nanopay-gateway).
public enum OfferMatch {
    /// The route's offer the buyer echoed, compared on what binds the payment.
    public static func matching(_ accepted: X402.PaymentRequirements?, in offers: [X402.PaymentRequirements]) -> X402.PaymentRequirements? {
        guard let accepted else { return offers.count == 1 ? offers[0] : nil } // CyberNanoPay SDK form has no `accepted`
        return offers.first {
            $0.scheme == accepted.scheme && $0.network == accepted.network && $0.asset == accepted.asset
                && $0.amount == accepted.amount && $0.payTo == accepted.payTo
        }
    }

    /// Whether the authorization pays exactly this offer.
    public static func pays(_ fields: AuthorizationFields, _ offer: X402.PaymentRequirements) -> Bool {
        guard let to = try? TONAddress(parsing: fields.to), let payTo = try? TONAddress(parsing: offer.payTo) else { return false }
        return to == payTo && fields.amount == offer.amount
    }
}
