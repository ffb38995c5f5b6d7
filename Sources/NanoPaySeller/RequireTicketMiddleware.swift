import Foundation
import HTTPTypes
import Hummingbird
import NanoPayClient
import NanoPayCore

/// A request context that can carry a verified ticket to the handler.
public protocol TicketRequestContext: RequestContext {
    var ticket: TicketClaims? { get set }
}

extension NanoPayRequestContext: TicketRequestContext {}

/// Ticket mode for a Hummingbird route: the buyer pays once at nanopayd's ticket endpoint and
/// then calls this route directly with `Authorization: Bearer <ticket>` until the ticket expires.
///
/// Tickets are verified offline (`TicketCheck`) against the attested ticket key: signature,
/// `alg`/`kid`, `iss`, the seller's own audience, the request against the ticket's scope,
/// `nbf`/`exp`, and what the seller charges: paid to its own `payTo`, `amt` at least `price`, in
/// the asset it was attested for, a lifetime no longer than the seller's, and exactly the scope
/// and uses the seller's offer names (the offer is not signed, so a buyer could ask for more). nanopayd is never called per request.
///
/// Without a valid ticket the route answers 402 with PAYMENT-REQUIRED (one ticket offer, whose
/// `extra.ticket` names the endpoint, audience, scope and lifetime) and, for the x402_mock
/// access-token flow, `access_token_endpoint` in the JSON body.
public struct RequireTicketMiddleware<Context: TicketRequestContext>: RouterMiddleware {
    public let offer: X402.PaymentRequirements
    public let ticket: TicketOffer
    public let policy: TicketPolicy
    public let trust: any ServiceTrust
    public let check: TicketCheck
    public let description: String?
    let clock: any NanoClock

    /// - Parameters:
    ///   - price: the ticket's price in atomic units (what one ticket costs).
    ///   - payTo: who is paid; the default audience.
    ///   - ticket: endpoint(s) at nanopayd, audience, scope (what the ticket covers), lifetime and uses.
    ///   - trust: the attested service (`PinnedService`) or `FixedTrust` for an embedded one.
    public init(price: Amount, payTo: TONAddress, ticket: TicketOffer, trust: any ServiceTrust, check: TicketCheck = TicketCheck(),
                description: String? = nil, clock: any NanoClock = SystemClock()) throws {
        guard price != .zero else { throw SellerConfigurationError(description: "a ticket must cost more than zero") }
        guard let trusted = trust.trusted else { throw SellerConfigurationError(description: "the payment service is not attested") }
        guard trusted.ticketKey != nil else { throw SellerConfigurationError(description: "the attested service names no ticket key") }
        do { _ = try ticket.terms.validated() } catch { throw SellerConfigurationError(description: "ticket terms: \(error.message)") }
        self.ticket = ticket
        self.offer = X402.PaymentRequirements(network: trusted.network, asset: trusted.asset, amount: price.description, payTo: payTo.raw,
                                              extra: ["name": .string("CyberNanoPay"), "enclavePublicKey": .string(Hex.encode(trusted.enclaveKey)),
                                                      TicketOffer.extraKey: ticket.json])
        self.policy = TicketPolicy(audience: ticket.terms.audience, payTo: payTo, minimumAmount: price,
                                   maxLifetimeSeconds: ticket.terms.lifetimeSeconds, scope: ticket.terms.scope, uses: ticket.terms.uses)
        self.trust = trust; self.check = check; self.description = description; self.clock = clock
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let authorization = request.headers[.authorization] else { return paymentRequired(request, error: "Payment required") }
        guard authorization.hasPrefix("Bearer "), authorization.utf8.count > 7 else {
            return paymentRequired(request, error: "invalid_ticket", message: "send the ticket as Authorization: Bearer <ticket>")
        }
        guard let trusted = trust.trusted else {
            return paymentRequired(request, error: "service_not_attested", message: "the payment service is not attested right now; retry later",
                                   status: .serviceUnavailable)
        }
        let token = String(authorization.dropFirst(7))
        do {
            let claims = try await check.verify(token, trusted: trusted, policy: policy, method: request.method.rawValue,
                                                path: request.uri.path, now: clock.nowSeconds())
            var context = context
            context.ticket = claims
            return try await next(request, context)
        } catch let refusal as TicketCheck.Refusal {
            return paymentRequired(request, error: refusal.code, message: refusal.message)
        }
    }

    func paymentRequired(_ request: Request, error: String, message: String? = nil,
                         status: HTTPResponse.Status = PaymentRequiredAnswer.paymentRequired) -> Response {
        var extra: [String: JSONValue] = ["ticket_endpoint": .string(ticket.endpoint)]
        if let endpoint = ticket.accessTokenEndpoint { extra["access_token_endpoint"] = .string(endpoint) }
        return PaymentRequiredAnswer.make(request, offers: [offer], description: description, error: error, message: message, status: status,
                                          extra: extra, headers: [.wwwAuthenticate: #"Bearer realm="ticket""#])
    }
}
