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
    public init(source: Source) {
        coreContext = .init(source: source)
        payment = nil
    }
}

/// The Swift counterpart of CyberNanoPay's `requirePayment({amount, to})` for Hummingbird.
///
/// - No or undecodable PAYMENT-SIGNATURE: 402 with PAYMENT-REQUIRED and a JSON body.
/// - A signature whose `accepted` offer is not one of this route's offers (scheme, network,
///   asset, amount, payTo), or whose authorization does not pay that offer: 402, and the
///   service is not called.
/// - Otherwise the service verifies and debits; the receipt must verify under the enclave key
///   the seller pinned through attestation, and must not be a replay (a captured header cannot
///   be reused). Held payments answer 402 `approval_required` with the approval id.
/// - Paid: the handler sees `context.payment`, and the response carries PAYMENT-RESPONSE.
public struct RequirePaymentMiddleware<Context: PaymentRequestContext>: RouterMiddleware {
    public let offers: [X402.PaymentRequirements]
    public let verifier: any PaymentVerifier
    public let enclaveKey: [UInt8]
    public let description: String?

    /// - Parameters:
    ///   - offers: what this route accepts (several networks or assets allowed; the buyer picks).
    ///   - verifier: how to reach CyberNanoPay.
    ///   - enclaveKey: the attested enclave key receipts must verify under (see `PinnedService`).
    public init(offers: [X402.PaymentRequirements], verifier: any PaymentVerifier, enclaveKey: [UInt8], description: String? = nil) {
        precondition(!offers.isEmpty && enclaveKey.count == 32)
        self.offers = offers; self.verifier = verifier; self.enclaveKey = enclaveKey; self.description = description
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
        let answer: VerifierAnswer
        do { answer = try await verifier.verify(fields) } catch {
            return paymentRequired(request, error: "payment service unavailable", status: .serviceUnavailable)
        }
        switch answer {
        case .refused(let code, let message):
            return paymentRequired(request, error: code, message: message)
        case .held(let approvalId, let expiresAt):
            return paymentRequired(request, error: "approval_required", message: "held for human approval",
                                   extra: ["approvalId": .string(approvalId), "expiresAt": .number(Double(expiresAt))])
        case .paid(let receipt, let replayed):
            guard receipt.verify(pinnedEnclaveKey: enclaveKey), receipt.to == (try? TONAddress(parsing: offer.payTo))?.raw,
                  receipt.amount.description == offer.amount, receipt.from == (try? TONAddress(parsing: fields.from))?.raw else {
                return paymentRequired(request, error: "invalid_receipt", message: "the service's receipt does not verify under the pinned enclave key")
            }
            guard !replayed else {
                return paymentRequired(request, error: "replayed", message: "this payment was already used; sign a new one")
            }
            var context = context
            context.payment = VerifiedPayment(confirmationId: receipt.confirmationId, payer: receipt.from, amount: receipt.amount, receipt: receipt)
            var response = try await next(request, context)
            let settle = X402.SettleResponse(success: true, transaction: receipt.confirmationId, network: offer.network, payer: receipt.from,
                                             amount: receipt.amount.description,
                                             extra: ["receipt": receipt.jsonValue, "remainingBalance": .string(receipt.remainingBalance.description)])
            response.headers[HTTPField.Name(X402.paymentResponseHeader)!] = X402.encodeHeader(settle)
            response.headers[.accessControlExposeHeaders] = X402.paymentResponseHeader
            return response
        }
    }

    /// The route's offer the buyer echoed, compared on what binds the payment.
    func matchingOffer(_ accepted: X402.PaymentRequirements?) -> X402.PaymentRequirements? {
        guard let accepted else { return offers.count == 1 ? offers[0] : nil } // CyberNanoPay SDK form has no `accepted`
        return offers.first {
            $0.scheme == accepted.scheme && $0.network == accepted.network && $0.asset == accepted.asset
                && $0.amount == accepted.amount && $0.payTo == accepted.payTo
        }
    }

    /// Whether the authorization pays exactly this offer.
    func pays(_ fields: AuthorizationFields, _ offer: X402.PaymentRequirements) -> Bool {
        guard let to = try? TONAddress(parsing: fields.to), let payTo = try? TONAddress(parsing: offer.payTo) else { return false }
        return to == payTo && fields.amount == offer.amount
    }

    func paymentRequired(_ request: Request, error: String, message: String? = nil, status: HTTPResponse.Status = .init(code: 402, reasonPhrase: "Payment Required"),
                         extra: [String: JSONValue]? = nil) -> Response {
        let host = request.head.authority ?? "localhost"
        let resource = X402.ResourceInfo(url: "http://\(host)\(request.uri.path)", description: description, mimeType: "application/json")
        let required = X402.PaymentRequired(error: error, resource: resource, accepts: offers)
        var body: [String: JSONValue] = ["x402Version": .number(2), "error": .string(error), "accepts": .array(offers.map { offerJSON($0) }),
                                         "resource": .object(["url": .string(resource.url)])]
        if let message { body["message"] = .string(message) }
        for (k, v) in extra ?? [:] { body[k] = v }
        let data = (try? JSONEncoder().encode(body)) ?? Data("{}".utf8)
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        headers[HTTPField.Name(X402.paymentRequiredHeader)!] = X402.encodeHeader(required)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func offerJSON(_ offer: X402.PaymentRequirements) -> JSONValue {
        let data = (try? JSONEncoder().encode(offer)) ?? Data("{}".utf8)
        return (try? JSONDecoder().decode(JSONValue.self, from: data)) ?? .object([:])
    }
}

/// A nanopayd a seller has attested: its URL and the enclave key receipts must verify under.
public struct PinnedService: Sendable {
    public let client: ServiceClient
    public let enclaveKey: [UInt8]
    public let verified: QuoteVerifier.Verified

    /// Attests the service with a fresh nonce at start-up and pins its enclave key.
    public static func attest(url: String, pinnedRoot: String, allowSoftware: Bool, expectedMeasurement: String? = nil) async throws -> PinnedService {
        let client = ServiceClient(baseURL: url)
        let policy = QuoteVerifier.Policy(pinnedRoot: pinnedRoot, expectedNonce: nil, allowSoftware: allowSoftware,
                                          expectedMeasurement: expectedMeasurement, now: SystemClock().nowSeconds())
        let (_, verified) = try await client.attest(nonce: Sodium.randomBytes(32), policy: policy)
        return PinnedService(client: client, enclaveKey: verified.enclavePublicKey, verified: verified)
    }

    public var verifier: RemoteVerifier { RemoteVerifier(client: client) }

    /// The offer for `amount` to `payTo` on the attested network and asset, naming this service.
    public func offer(amount: String, payTo: TONAddress, maxTimeoutSeconds: Int = 300) -> X402.PaymentRequirements {
        X402.PaymentRequirements(network: verified.network, asset: verified.asset, amount: amount, payTo: payTo.raw,
                                 maxTimeoutSeconds: maxTimeoutSeconds,
                                 extra: ["name": .string("CyberNanoPay"), "verifyingContract": .string(payTo.raw),
                                         "teeEndpoint": .string(client.baseURL), "enclavePublicKey": .string(Hex.encode(enclaveKey))])
    }
}
