/// How a ticket-mode offer describes its ticket, in the x402 requirements' `extra.ticket`:
///
/// ```json
/// {"endpoint": "http://nanopayd/tickets", "accessTokenEndpoint": "http://nanopayd/tickets/access-token",
///  "audience": "weather-api", "scope": "GET:/api/forecast/*", "lifetimeSeconds": 300, "uses": 10}
/// ```
///
/// `audience` defaults to the offer's payTo, `lifetimeSeconds` to 300 (at most 3600), `uses` to
/// unlimited. The offer is not signed by the seller: nanopayd puts what was asked and paid into
/// the ticket, and the seller checks it against what it charges (`TicketPolicy`).
public struct TicketOffer: Equatable, Sendable {
    public static let extraKey = "ticket"

    public var endpoint: String
    public var accessTokenEndpoint: String?
    public var terms: TicketTerms

    public init(endpoint: String, accessTokenEndpoint: String? = nil, terms: TicketTerms) {
        self.endpoint = endpoint; self.accessTokenEndpoint = accessTokenEndpoint; self.terms = terms
    }

    /// The `extra.ticket` value.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["endpoint": .string(endpoint), "audience": .string(terms.audience),
                                      "scope": .string(terms.scope.description), "lifetimeSeconds": .number(Double(terms.lifetimeSeconds))]
        if let accessTokenEndpoint { o["accessTokenEndpoint"] = .string(accessTokenEndpoint) }
        if let uses = terms.uses { o["uses"] = .number(Double(uses)) }
        return .object(o)
    }

    /// Reads `extra.ticket` of an offer; nil if the offer is not a ticket offer.
    public static func from(extra: [String: JSONValue]?, payTo: String) throws(NanoPayError) -> TicketOffer? {
        guard let value = extra?[extraKey] else { return nil }
        guard case .object(let o) = value else { throw .invalid("extra.ticket must be an object") }
        guard let endpoint = o["endpoint"]?.stringValue else { throw .invalid("extra.ticket.endpoint must be a URL") }
        let audience: String
        switch o["audience"] {
        case nil, .null?: audience = payTo
        case .string(let s)?: audience = s
        default: throw .invalid("extra.ticket.audience must be text")
        }
        guard let scopeText = o["scope"]?.stringValue else { throw .invalid("extra.ticket.scope must be text (METHOD:/path entries)") }
        let lifetime = try wholeNumber(o["lifetimeSeconds"], "lifetimeSeconds") ?? TicketTerms.defaultLifetimeSeconds
        let uses = try wholeNumber(o["uses"], "uses")
        guard uses.map({ $0 <= UInt64(UInt32.max) }) ?? true else { throw .invalid("extra.ticket.uses is too large") }
        let terms = try TicketTerms(audience: audience, scope: TicketScope(parsing: scopeText), lifetimeSeconds: lifetime,
                                    uses: uses.map { UInt32($0) }).validated()
        var accessToken: String? = nil
        if let a = o["accessTokenEndpoint"] {
            guard let s = a.stringValue else { throw .invalid("extra.ticket.accessTokenEndpoint must be a URL") }
            accessToken = s
        }
        return TicketOffer(endpoint: endpoint, accessTokenEndpoint: accessToken, terms: terms)
    }

    private static func wholeNumber(_ value: JSONValue?, _ name: String) throws(NanoPayError) -> UInt64? {
        switch value {
        case nil, .null?: return nil
        case .number(let n)? where n >= 0 && n <= 9.0e15 && n.rounded() == n: return UInt64(n)
        default: throw .invalid("extra.ticket.\(name) must be a whole number")
        }
    }
}
