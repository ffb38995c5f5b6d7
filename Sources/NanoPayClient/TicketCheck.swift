import Foundation
import JWTKit
import NanoPayCore

extension TicketClaims: JWTPayload {
    /// Claim checks need the seller's terms and the request; `TicketCheck.verify` does them after
    /// jwt-kit has checked the signature.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// What a seller sells as a ticket for a route: the audience it answers to, the least it takes
/// for a ticket, and the longest lifetime it honours. The offer a buyer answered is not signed
/// by the seller, so the ticket's claims (what nanopayd saw paid) are checked against these.
public struct TicketPolicy: Sendable, Equatable {
    public var audience: String
    /// The seller's own account: a ticket must have paid it, whatever the audience says.
    public var payTo: TONAddress
    public var minimumAmount: Amount
    public var maxLifetimeSeconds: UInt64
    /// Exactly the scope and uses the seller sells: a buyer may present nanopayd any offer, so a
    /// ticket for a wider scope or for unlimited uses was bought on terms the seller never made.
    public var scope: TicketScope
    public var uses: UInt32?
    public init(audience: String, payTo: TONAddress, minimumAmount: Amount, maxLifetimeSeconds: UInt64 = TicketTerms.defaultLifetimeSeconds,
                scope: TicketScope, uses: UInt32? = nil) {
        self.audience = audience; self.payTo = payTo; self.minimumAmount = minimumAmount; self.maxLifetimeSeconds = maxLifetimeSeconds
        self.scope = scope; self.uses = uses
    }
}

/// Offline verification of tickets against the attested ticket key: signature (jwt-kit, EdDSA),
/// header (`alg: EdDSA`, `typ: JWT`, `kid` = the attested key's thumbprint), `iss` (the attested
/// service), `aud`, `scope` against the request, `nbf`/`exp` with a small leeway, and the
/// seller's own price, asset and lifetime. Never calls nanopayd.
///
/// `uses` are counted per `jti` in this process's memory (`TicketUses`): a seller running several
/// processes grants up to `uses` calls per process.
public struct TicketCheck: Sendable {
    public struct Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        /// Stable code: `invalid_ticket`, `ticket_expired`, `ticket_not_yet_valid`, `wrong_audience`,
        /// `wrong_payee`, `wrong_terms`, `out_of_scope`, `underpaid`, `wrong_asset`, `lifetime_too_long`,
        /// `ticket_used_up`.
        public var code: String
        public var message: String
        public init(_ code: String, _ message: String) { self.code = code; self.message = message }
        public var description: String { "\(code): \(message)" }
    }

    public var leewaySeconds: UInt64
    public let uses: TicketUses
    private let keys: KeyCache

    public init(leewaySeconds: UInt64 = 5, uses: TicketUses = TicketUses()) {
        self.leewaySeconds = leewaySeconds; self.uses = uses; self.keys = KeyCache()
    }

    /// Verifies `token` for a request (`method`, `path`) under `policy`, as of `now` (unix seconds),
    /// and counts one use. Returns the claims.
    public func verify(_ token: String, trusted: TrustedService, policy: TicketPolicy, method: String, path: String,
                       now: UInt64) async throws(Refusal) -> TicketClaims {
        guard let ticketKey = trusted.ticketKey, ticketKey != trusted.enclaveKey else {
            throw Refusal("invalid_ticket", "the attested service has no ticket key of its own")
        }
        let jwk = TicketJWK(publicKey: ticketKey)
        // The header first, strictly: the one algorithm and the attested key only.
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 8192, parts.count == 3, let headerBytes = Base64.decode(String(parts[0]), urlSafeAllowed: true),
              let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)) else {
            throw Refusal("invalid_ticket", "not a JWS compact ticket")
        }
        guard header.alg == "EdDSA" else { throw Refusal("invalid_ticket", "alg must be EdDSA") }
        guard header.typ == nil || header.typ == "JWT" else { throw Refusal("invalid_ticket", "typ must be JWT") }
        guard header.kid == jwk.kid else { throw Refusal("invalid_ticket", "kid is not the attested ticket key") }
        let claims: TicketClaims
        do {
            claims = try await keys.collection(for: jwk).verify(token, as: TicketClaims.self)
        } catch {
            throw Refusal("invalid_ticket", "the signature does not verify under the attested ticket key")
        }
        guard claims.iss == Hex.encode(trusted.enclaveKey) else { throw Refusal("invalid_ticket", "issued by another service") }
        guard claims.aud == policy.audience else { throw Refusal("wrong_audience", "the ticket is for another audience") }
        guard (try? TONAddress(parsing: claims.payTo)) == policy.payTo else { throw Refusal("wrong_payee", "the ticket paid another account") }
        guard claims.nbf <= now + leewaySeconds else { throw Refusal("ticket_not_yet_valid", "the ticket is not valid yet") }
        guard now < claims.exp + leewaySeconds else { throw Refusal("ticket_expired", "the ticket has expired") }
        guard claims.iat <= claims.nbf, claims.nbf < claims.exp, claims.exp - claims.iat <= policy.maxLifetimeSeconds else {
            throw Refusal("lifetime_too_long", "the ticket lives longer than this seller allows (\(policy.maxLifetimeSeconds) s)")
        }
        guard claims.asset == trusted.asset else { throw Refusal("wrong_asset", "paid in another asset") }
        guard let paid = try? Amount(parsing: claims.amt, allowZero: false), paid >= policy.minimumAmount else {
            throw Refusal("underpaid", "the ticket paid less than this seller's ticket price \(policy.minimumAmount)")
        }
        guard claims.scope == policy.scope.description, claims.uses == policy.uses else {
            throw Refusal("wrong_terms", "the ticket was bought for a scope or number of uses this seller does not sell")
        }
        guard let scope = try? TicketScope(parsing: claims.scope), scope.covers(method: method, path: path) else {
            throw Refusal("out_of_scope", "the ticket does not cover \(method) \(path.prefix(200))")
        }
        if let limit = claims.uses {
            guard uses.use(jti: claims.jti, limit: limit, expiresAt: claims.exp + leewaySeconds, now: now) else {
                throw Refusal("ticket_used_up", "the ticket's \(limit) uses are spent")
            }
        }
        return claims
    }

    struct Header: Decodable {
        var alg: String
        var kid: String?
        var typ: String?
    }

    /// One jwt-kit key collection per attested ticket key (re-attestation may change it).
    final class KeyCache: Sendable {
        private let current = Locked<(kid: String, keys: JWTKeyCollection)?>(nil)

        func collection(for jwk: TicketJWK) async throws -> JWTKeyCollection {
            if let cached = current.withLock({ $0 }), cached.kid == jwk.kid { return cached.keys }
            let keys = JWTKeyCollection()
            await keys.add(eddsa: try EdDSA.PublicKey(x: jwk.x, curve: .ed25519), kid: JWKIdentifier(string: jwk.kid))
            current.withLock { $0 = (jwk.kid, keys) }
            return keys
        }
    }
}

/// Calls made with each limited ticket, in this process's memory, until the ticket expires.
/// Bounded: when full, expired entries are dropped; if none are, new limited tickets are refused
/// rather than counted nowhere.
public final class TicketUses: Sendable {
    private let counts = Locked<[String: (used: UInt32, expiresAt: UInt64)]>([:])
    public let capacity: Int

    public init(capacity: Int = 100_000) { self.capacity = max(1, capacity) }

    /// Counts one use of `jti`; false when its `limit` is reached (or the table is full of live tickets).
    public func use(jti: String, limit: UInt32, expiresAt: UInt64, now: UInt64) -> Bool {
        counts.withLock { table in
            if let entry = table[jti] {
                guard entry.used < limit else { return false }
                table[jti] = (entry.used + 1, entry.expiresAt)
                return true
            }
            if table.count >= capacity { table = table.filter { $0.value.expiresAt > now } }
            guard table.count < capacity else { return false }
            table[jti] = (1, expiresAt)
            return true
        }
    }
}
