import NanoPayCore

extension PaymentService {
    /// The ticket key as a JWK set (`GET /.well-known/jwks.json`). The attestation quote binds
    /// the same key, so a seller that pinned the quote can check a JWKS it fetched.
    public var ticketKeys: TicketJWK.Set { TicketJWK.Set(keys: [TicketJWK(publicKey: enclave.ticketPublicKey)]) }
}

/// A ticket bought with one payment.
public struct IssuedTicket: Sendable, Equatable {
    /// The JWS compact JWT.
    public var ticket: String
    public var claims: TicketClaims
    public var receipt: Receipt
    /// The payment was a replay: the same ticket as the first time.
    public var replayed: Bool
}

/// What buying a ticket came to.
public enum TicketOutcome: Sendable, Equatable {
    case issued(IssuedTicket)
    /// Policy held the payment for a human; retry with the same authorization once approved.
    case held(approvalId: String, expiresAtMilliseconds: UInt64)
}

extension PaymentService {
    /// Buys a ticket: the x402 payment (an authorization for exactly the offer's amount to its
    /// payTo, on this network and asset) is debited as `verify` does it, and the offer's ticket
    /// terms are recorded in the same transaction; the enclave signs a ticket that states who paid
    /// how much to whom, for which scope and how long. A replay of the same authorization with
    /// the same terms gets the same ticket; other terms are `ticket_terms_conflict`; an
    /// authorization already spent on anything else is `authorization_in_use` (and one that
    /// bought a ticket is refused as a plain payment).
    public func buyTicket(_ payload: X402.PaymentPayload) async throws(NanoPayError) -> TicketOutcome {
        guard payload.x402Version == X402.version else { throw .invalid("x402Version must be 2") }
        guard let offer = payload.accepted else { throw .invalid("accepted: the ticket offer being paid is required") }
        guard offer.scheme == X402.scheme, offer.network == configuration.network, offer.asset == configuration.asset else {
            throw .invalid("the offer must be \(X402.scheme) on \(configuration.network) in \(configuration.asset)")
        }
        guard let ticketOffer = try TicketOffer.from(extra: offer.extra, payTo: offer.payTo) else {
            throw .invalid("accepted.extra.ticket is missing: the offer is not a ticket offer")
        }
        let fields = try payload.authorizationFields()
        guard let price = try? Amount(parsing: offer.amount, allowZero: false), let paid = try? Amount(parsing: fields.amount, allowZero: false),
              paid == price else { throw .invalid("the authorization's amount must equal the offer's amount") }
        guard let payTo = try? TONAddress(parsing: offer.payTo), let to = try? TONAddress(parsing: fields.to), to == payTo else {
            throw .invalid("the authorization must pay the offer's payTo")
        }
        let terms = ticketOffer.terms
        switch try await verify(fields, paymentIdentifier: nil, ticketTerms: terms) {
        case .held(let id, let expires):
            return .held(approvalId: id, expiresAtMilliseconds: expires)
        case .settled(let receipt, let replayed):
            let claims = TicketClaims(iss: Hex.encode(enclave.publicKey), sub: receipt.from, aud: terms.audience,
                                      scope: terms.scope.description, iat: receipt.confirmedAt, nbf: receipt.confirmedAt,
                                      exp: receipt.confirmedAt + terms.lifetimeSeconds, jti: receipt.confirmationId,
                                      amt: receipt.amount.description, asset: configuration.asset, payTo: receipt.to, uses: terms.uses)
            return .issued(IssuedTicket(ticket: enclave.issueTicket(claims), claims: claims, receipt: receipt, replayed: replayed))
        }
    }
}
