import Foundation

/// What a ticket attests: who paid how much to whom, for which requests and how long. nanopayd
/// signs only what happened (the payment) and the terms the buyer asked for; the seller decides
/// whether those terms buy the request at hand (`TicketTerms.covers`, and its own price).
///
/// A ticket is a JWS compact JWT (`alg: EdDSA`, `typ: JWT`, `kid`), signed inside the enclave by
/// the ticket key, which is separate from the receipt key and bound into the attestation quote.
public struct TicketClaims: Codable, Equatable, Sendable {
    /// The service id: hex of the enclave's receipt key, the value v2 authorizations bind.
    public var iss: String
    /// The payer (canonical raw address).
    public var sub: String
    /// The seller's audience: its payTo (raw address) or an audience name from its offer.
    public var aud: String
    /// Space-separated `METHOD:path` entries the ticket was bought for (`*` method: any; a path
    /// ending in `*`: that prefix).
    public var scope: String
    public var iat: UInt64
    public var nbf: UInt64
    public var exp: UInt64
    /// The payment's confirmation id.
    public var jti: String
    /// Atomic units paid.
    public var amt: String
    public var asset: String
    /// Who was paid (canonical raw address). A seller checks it is itself: an audience name
    /// alone would let a buyer pay its own second account and present the ticket.
    public var payTo: String
    /// How many calls the ticket is good for, if limited.
    public var uses: UInt32?

    public init(iss: String, sub: String, aud: String, scope: String, iat: UInt64, nbf: UInt64, exp: UInt64, jti: String,
                amt: String, asset: String, payTo: String, uses: UInt32?) {
        self.iss = iss; self.sub = sub; self.aud = aud; self.scope = scope; self.iat = iat; self.nbf = nbf; self.exp = exp
        self.jti = jti; self.amt = amt; self.asset = asset; self.payTo = payTo; self.uses = uses
    }
}

/// The terms a buyer asks a ticket for (from the seller's offer, `extra`), bound to the payment
/// the first time a ticket is issued for it: a replay of the same payment gets the same ticket,
/// and never a ticket for other terms (one authorization buys one thing once).
public struct TicketTerms: Equatable, Sendable {
    public var audience: String
    public var scope: TicketScope
    public var lifetimeSeconds: UInt64
    public var uses: UInt32?

    /// Default and largest ticket lifetimes.
    public static let defaultLifetimeSeconds: UInt64 = 300
    public static let maxLifetimeSeconds: UInt64 = 3600
    /// Longest audience name and scope text accepted.
    public static let audienceLengthMax = 256
    public static let scopeLengthMax = 1024

    public init(audience: String, scope: TicketScope, lifetimeSeconds: UInt64 = defaultLifetimeSeconds, uses: UInt32? = nil) {
        self.audience = audience; self.scope = scope; self.lifetimeSeconds = lifetimeSeconds; self.uses = uses
    }

    /// Checks the bounds a deployment enforces on any ticket.
    public func validated() throws(NanoPayError) -> TicketTerms {
        guard !audience.isEmpty, audience.utf8.count <= Self.audienceLengthMax,
              audience.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7f }) else {
            throw .invalid("ticket audience must be 1 to \(Self.audienceLengthMax) bytes without spaces or control characters")
        }
        guard (1...Self.maxLifetimeSeconds).contains(lifetimeSeconds) else {
            throw .invalid("ticket lifetime must be 1 to \(Self.maxLifetimeSeconds) seconds")
        }
        if let uses, uses == 0 { throw .invalid("ticket uses must be at least 1") }
        return self
    }
}

/// The requests a ticket covers: `METHOD:path` entries, space-separated in the `scope` claim.
public struct TicketScope: Equatable, Sendable, CustomStringConvertible {
    public struct Entry: Equatable, Sendable {
        /// Upper-case method, or `*`.
        public var method: String
        /// An absolute path; a trailing `*` matches any path with that prefix.
        public var path: String

        public func covers(method m: String, path p: String) -> Bool {
            guard method == "*" || method == m.uppercased() else { return false }
            if path.hasSuffix("*") { return p.hasPrefix(String(path.dropLast())) }
            return p == path
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// Parses `GET:/api/report POST:/api/jobs/*`. Refuses anything else: empty entries, methods
    /// that are not tokens, paths that are not absolute, a `*` anywhere but at the end, text
    /// longer than `TicketTerms.scopeLengthMax`.
    public init(parsing text: String) throws(NanoPayError) {
        guard !text.isEmpty, text.utf8.count <= TicketTerms.scopeLengthMax else {
            throw .invalid("ticket scope must be 1 to \(TicketTerms.scopeLengthMax) bytes")
        }
        var entries: [Entry] = []
        for part in text.split(separator: " ", omittingEmptySubsequences: false) {
            guard let colon = part.firstIndex(of: ":") else { throw .invalid("ticket scope entries are METHOD:/path") }
            let method = String(part[..<colon]), path = String(part[part.index(after: colon)...])
            guard method == "*" || (!method.isEmpty && method.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5a })) else {
                throw .invalid("ticket scope method must be upper-case letters or *")
            }
            guard path.hasPrefix("/"), !path.dropLast().contains("*"),
                  path.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f && $0 != "?" && $0 != "#" }) else {
                throw .invalid("ticket scope path must be an absolute path (printable ASCII, no query, * only at the end)")
            }
            entries.append(Entry(method: method, path: path))
        }
        self.entries = entries
    }

    public func covers(method: String, path: String) -> Bool { entries.contains { $0.covers(method: method, path: path) } }

    /// The scope as the `scope` claim spells it.
    public var description: String { entries.map { "\($0.method):\($0.path)" }.joined(separator: " ") }
}
