import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NanoPayClient
import NanoPayCore
import NanoPaySeller
import NanoPayService
import NanoPayTestSupport
import Testing

/// A ticket-mode seller (price 500, audience "report-api", scope GET:/api/report/*, 120 s,
/// optional uses) embedding CyberNanoPay in-process; its clock is the fixture's.
struct TicketSeller {
    let fixture: Fixture
    let middleware: RequireTicketMiddleware<NanoPayRequestContext>
    let client: any TestClientProtocol

    /// Buys a ticket for `offer` (default: the seller's own offer) with a fresh authorization.
    func buy(_ buyer: Buyer, offer: X402.PaymentRequirements? = nil) async throws -> String {
        let offer = offer ?? middleware.offer
        let amount = UInt128(offer.amount) ?? 0
        let to = try TONAddress(parsing: offer.payTo)
        let auth = fixture.authorization(buyer, to: to, amount: amount, version: .v2)
        guard case .issued(let t) = try await fixture.service.buyTicket(X402.PaymentPayload(accepted: offer, authorization: auth)) else {
            throw NanoPayError(.internalError, "no ticket")
        }
        return t.ticket
    }

    func call(_ path: String, ticket: String?, method: HTTPRequest.Method = .get) async throws -> (status: Int, error: String?, body: String) {
        var headers: HTTPFields = [:]
        if let ticket { headers[.authorization] = "Bearer \(ticket)" }
        return try await client.execute(uri: path, method: method, headers: headers) { response in
            let text = String(buffer: response.body)
            let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
            return (Int(response.status.code), json?["error"] as? String, text)
        }
    }

    /// The seller's offer with other ticket terms or price (what a buyer may present to nanopayd).
    func offer(amount: String? = nil, payTo: TONAddress? = nil, audience: String? = nil, scope: String? = nil,
               lifetimeSeconds: UInt64? = nil, uses: UInt32?? = nil) throws -> X402.PaymentRequirements {
        var o = middleware.offer
        var t = middleware.ticket
        if let amount { o.amount = amount }
        if let payTo { o.payTo = payTo.raw; o.to = payTo.raw }
        if let audience { t.terms.audience = audience }
        if let scope { t.terms.scope = try TicketScope(parsing: scope) }
        if let lifetimeSeconds { t.terms.lifetimeSeconds = lifetimeSeconds }
        if let uses { t.terms.uses = uses }  // .some(nil): no limit
        o.extra?[TicketOffer.extraKey] = t.json
        return o
    }
}

func withTicketSeller(uses: UInt32? = nil, trustedService: ((Fixture) -> TrustedService)? = nil,
                      _ body: @Sendable (TicketSeller) async throws -> Void) async throws {
    let f = try Fixture(); defer { f.close() }
    let trusted = trustedService?(f) ?? TrustedService(enclaveKey: f.enclave.publicKey, network: "tvm:-239", asset: "USDT",
                                                       ticketKey: f.enclave.ticketPublicKey)
    let ticket = TicketOffer(endpoint: "http://127.0.0.1:4030/tickets", accessTokenEndpoint: "http://127.0.0.1:4030/tickets/access-token",
                             terms: TicketTerms(audience: "report-api", scope: try TicketScope(parsing: "GET:/api/report/*"),
                                                lifetimeSeconds: 120, uses: uses))
    let middleware = try RequireTicketMiddleware<NanoPayRequestContext>(price: 500, payTo: sellerAddress(), ticket: ticket,
                                                                        trust: FixedTrust(trusted), clock: f.clock)
    let router = Router(context: NanoPayRequestContext.self)
    router.group("/api").add(middleware: middleware)
        .get("/report/{day}") { _, context -> String in "report for \(context.ticket?.sub ?? "?") jti \(context.ticket?.jti ?? "?")" }
        .get("/admin") { _, _ -> String in "admin" }
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Logger(label: "seller"))
    try await app.test(.live) { client in try await body(TicketSeller(fixture: f, middleware: middleware, client: client)) }
}

/// Builds a JWS compact token from raw header and payload JSON and a signer.
func jws(header: String, payload: String, sign: ([UInt8]) -> [UInt8]) -> String {
    let input = Base64.url(Array(header.utf8)) + "." + Base64.url(Array(payload.utf8))
    return input + "." + Base64.url(sign(Array(input.utf8)))
}

func payloadJSON(of ticket: String) throws -> String {
    let part = String(ticket.split(separator: ".")[1])
    return String(decoding: try #require(Base64.decode(part, urlSafeAllowed: true)), as: UTF8.self)
}

@Suite struct TicketMiddlewareTests {
    @Test func payOnceThenCallDirectlyUntilTheTicketExpires() async throws {
        try await withTicketSeller { s in
            let buyer = Buyer(index: 100)
            try await s.fixture.fund(buyer, 2_000)
            // No ticket: 402 with the ticket offer and the access-token endpoint.
            let unpaid = try await s.call("/api/report/monday", ticket: nil)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(unpaid.body.utf8)) as? [String: Any])
            let offered = (((body["accepts"] as? [[String: Any]])?.first?["extra"] as? [String: Any])?["ticket"] as? [String: Any]) ?? [:]
            #expect(unpaid.status == 402 && body["access_token_endpoint"] as? String == "http://127.0.0.1:4030/tickets/access-token")
            #expect(offered["scope"] as? String == "GET:/api/report/*" && offered["audience"] as? String == "report-api"
                    && offered["lifetimeSeconds"] as? Int == 120 && offered["endpoint"] as? String == "http://127.0.0.1:4030/tickets")
            let ticket = try await s.buy(buyer)
            for day in ["monday", "tuesday", "wednesday"] {
                let answer = try await s.call("/api/report/\(day)", ticket: ticket)
                #expect(answer.status == 200 && answer.body.contains(buyer.address.raw), "\(answer.body)")
            }
            #expect(try await s.fixture.service.balance(buyer.address).available == 1_500, "one payment")
            s.fixture.clock.advance(seconds: 120 + 6)
            let expired = try await s.call("/api/report/monday", ticket: ticket)
            #expect(expired.status == 402 && expired.error == "ticket_expired")
        }
    }

    /// Every way a ticket must be refused (issue 17's list), each answered 402 with a stable code
    /// and the handler never run.
    @Test func everyForgedOrMisusedTicketIsRefused() async throws {
        try await withTicketSeller { s in
            let f = s.fixture
            let buyer = Buyer(index: 101)
            try await f.fund(buyer, 100_000)
            let genuine = try await s.buy(buyer)
            let parts = genuine.split(separator: ".").map(String.init)
            let header = String(decoding: try #require(Base64.decode(parts[0], urlSafeAllowed: true)), as: UTF8.self)
            let payload = try payloadJSON(of: genuine)
            let kid = f.enclave.ticketKeyId
            func refused(_ token: String, _ code: String, path: String = "/api/report/monday", _ comment: Comment? = nil,
                         sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let answer = try await s.call(path, ticket: token)
                #expect(answer.status == 402 && answer.error == code, comment ?? "\(answer.body)", sourceLocation: sourceLocation)
            }
            #expect(try await s.call("/api/report/monday", ticket: genuine).status == 200)

            // alg none; HS256 with the public key as the HMAC secret (both its raw bytes and its JWK x).
            try await refused(Base64.url(Array(#"{"alg":"none","kid":"\#(kid)","typ":"JWT"}"#.utf8)) + "." + parts[1] + ".", "invalid_ticket")
            for secret in [f.enclave.ticketPublicKey, Array(TicketJWK(publicKey: f.enclave.ticketPublicKey).x.utf8)] {
                try await refused(jws(header: #"{"alg":"HS256","kid":"\#(kid)","typ":"JWT"}"#, payload: payload) { Sodium.hmacSHA256(key: secret, message: $0) },
                                  "invalid_ticket")
            }
            // A kid that is not the attested key; another key signing under our kid.
            let stranger = Ed25519KeyPair.generate()
            let strangerKid = TicketJWK(publicKey: stranger.publicKey).kid
            try await refused(jws(header: #"{"alg":"EdDSA","kid":"\#(strangerKid)","typ":"JWT"}"#, payload: payload) { stranger.sign($0) }, "invalid_ticket")
            try await refused(jws(header: header, payload: payload) { stranger.sign($0) }, "invalid_ticket")
            // Tampered payload (more uses, wider scope); tampered signature.
            let widened = payload.replacingOccurrences(of: "GET:/api/report/*", with: "*:/*")
            try await refused(Base64.url(Array(header.utf8)) + "." + Base64.url(Array(widened.utf8)) + "." + parts[2], "invalid_ticket")
            var sig = try #require(Base64.decode(parts[2], urlSafeAllowed: true)); sig[10] ^= 1
            try await refused(parts[0] + "." + parts[1] + "." + Base64.url(sig), "invalid_ticket")
            try await refused(genuine + "x", "invalid_ticket")
            try await refused("not a ticket", "invalid_ticket")

            // Genuinely signed by the ticket key, but wrong claims (the enclave signs what it is given here).
            let base = try JSONDecoder().decode(TicketClaims.self, from: Data(payload.utf8))
            func issued(_ change: (inout TicketClaims) -> Void) -> String { var c = base; change(&c); return f.enclave.issueTicket(c) }
            try await refused(issued { $0.nbf = f.nowSeconds + 60; $0.iat = $0.nbf; $0.exp = $0.nbf + 100 }, "ticket_not_yet_valid")
            try await refused(issued { $0.aud = "other-api" }, "wrong_audience")
            try await refused(issued { $0.iss = Hex.encode(Ed25519KeyPair.generate().publicKey) }, "invalid_ticket", "another deployment's iss")
            try await refused(genuine, "out_of_scope", path: "/api/admin")

            // What nanopayd really issues for terms the seller does not sell.
            try await refused(try await s.buy(buyer, offer: try s.offer(amount: "499")), "underpaid")
            try await refused(try await s.buy(buyer, offer: try s.offer(payTo: sellerAddress(7))), "wrong_payee", "paid to another account (the buyer's own, say)")
            try await refused(try await s.buy(buyer, offer: try s.offer(payTo: sellerAddress(7), audience: "other-api")), "wrong_audience")
            try await refused(try await s.buy(buyer, offer: try s.offer(lifetimeSeconds: 3600)), "lifetime_too_long")
            // Genuine tickets nanopayd issued for terms the seller never offered: a wider scope
            // (reaching /api/admin), or no use limit where the seller sells a limited one.
            let wide = try await s.buy(buyer, offer: try s.offer(scope: "*:/*"))
            try await refused(wide, "wrong_terms", path: "/api/admin")
            try await refused(wide, "wrong_terms")
            try await refused(try await s.buy(buyer, offer: try s.offer(scope: "GET:/api/report/monday")), "wrong_terms", "narrower is not what is sold either")

            // Another deployment's ticket (its own ticket key and kid).
            let other = try Fixture(); defer { other.close() }
            try await other.fund(buyer, 1_000)
            let foreignAuth = other.authorization(buyer, amount: 500, version: .v2)
            var foreignOffer = s.middleware.offer
            foreignOffer.extra?["enclavePublicKey"] = .string(Hex.encode(other.enclave.publicKey))
            guard case .issued(let foreign) = try await other.service.buyTicket(X402.PaymentPayload(accepted: foreignOffer, authorization: foreignAuth)) else {
                Issue.record("no foreign ticket"); return
            }
            try await refused(foreign.ticket, "invalid_ticket")
            #expect(try await s.call("/api/report/monday", ticket: genuine).status == 200, "the genuine ticket still works")
        }
    }

    @Test func aTicketIsGoodForItsUsesInThisProcess() async throws {
        try await withTicketSeller(uses: 2) { s in
            let buyer = Buyer(index: 102)
            try await s.fixture.fund(buyer, 1_000)
            let ticket = try await s.buy(buyer)
            #expect(try await s.call("/api/report/a", ticket: ticket).status == 200)
            #expect(try await s.call("/api/report/b", ticket: ticket).status == 200)
            let third = try await s.call("/api/report/c", ticket: ticket)
            #expect(third.status == 402 && third.error == "ticket_used_up")
            // A ticket bought with the limit removed from the offer is not what this seller sells.
            let unlimited = try await s.buy(buyer, offer: try s.offer(uses: .some(nil)))
            let answer = try await s.call("/api/report/d", ticket: unlimited)
            #expect(answer.status == 402 && answer.error == "wrong_terms")
        }
    }

    /// Each header check and the asset check refuse on their own: with a ticket key the test
    /// holds, a token can carry a valid signature and one wrong thing at a time (the enclave
    /// always writes a correct header, so these would otherwise hide behind the signature).
    @Test func headerAndAssetChecksStandOnTheirOwn() async throws {
        let ticketKey = Ed25519KeyPair.generate()
        try await withTicketSeller(trustedService: { f in
            TrustedService(enclaveKey: f.enclave.publicKey, network: "tvm:-239", asset: "USDT", ticketKey: ticketKey.publicKey)
        }) { s in
            let now = s.fixture.nowSeconds
            let claims = TicketClaims(iss: Hex.encode(s.fixture.enclave.publicKey), sub: Buyer(index: 104).address.raw, aud: "report-api",
                                      scope: "GET:/api/report/*", iat: now, nbf: now, exp: now + 60, jti: String(repeating: "cd", count: 16),
                                      amt: "500", asset: "USDT", payTo: sellerAddress().raw, uses: nil)
            let kid = TicketJWK(publicKey: ticketKey.publicKey).kid
            func token(alg: String = "EdDSA", kid: String = kid, typ: String = "JWT", _ claims: TicketClaims = claims) throws -> String {
                jws(header: #"{"alg":"\#(alg)","kid":"\#(kid)","typ":"\#(typ)"}"#,
                    payload: String(decoding: try JSONEncoder().encode(claims), as: UTF8.self)) { ticketKey.sign($0) }
            }
            #expect(try await s.call("/api/report/monday", ticket: try token()).status == 200, "the well-formed token passes")
            for (name, bad) in [("alg HS256", try token(alg: "HS256")), ("alg none", try token(alg: "none")), ("typ", try token(typ: "at+jwt")),
                                ("kid", try token(kid: "someone-else"))] {
                let answer = try await s.call("/api/report/monday", ticket: bad)
                #expect(answer.status == 402 && answer.error == "invalid_ticket", "\(name): \(answer.body)")
            }
            var usdc = claims; usdc.asset = "USDC"
            let answer = try await s.call("/api/report/monday", ticket: try token(usdc))
            #expect(answer.status == 402 && answer.error == "wrong_asset")
        }
    }

    /// The receipt key is not a ticket key: a service whose "ticket key" is its receipt key is
    /// refused at set-up, and tokens signed by the receipt key are refused.
    @Test func theReceiptKeyIsNeverATicketKey() async throws {
        let receiptKey = Ed25519KeyPair.generate()
        try await withTicketSeller(trustedService: { f in
            TrustedService(enclaveKey: receiptKey.publicKey, network: "tvm:-239", asset: "USDT", ticketKey: f.enclave.ticketPublicKey)
        }) { s in
            let claims = TicketClaims(iss: Hex.encode(receiptKey.publicKey), sub: Buyer(index: 103).address.raw, aud: "report-api",
                                      scope: "GET:/api/report/*", iat: s.fixture.nowSeconds, nbf: s.fixture.nowSeconds,
                                      exp: s.fixture.nowSeconds + 60, jti: String(repeating: "ab", count: 16), amt: "500", asset: "USDT",
                                      payTo: sellerAddress().raw, uses: nil)
            let kid = TicketJWK(publicKey: receiptKey.publicKey).kid
            let token = jws(header: #"{"alg":"EdDSA","kid":"\#(kid)","typ":"JWT"}"#,
                            payload: String(decoding: try JSONEncoder().encode(claims), as: UTF8.self)) { receiptKey.sign($0) }
            let answer = try await s.call("/api/report/monday", ticket: token)
            #expect(answer.status == 402 && answer.error == "invalid_ticket")
        }
        // A service that names its receipt key as its ticket key: a token that key signed, with
        // every claim right, is still refused.
        let key = Ed25519KeyPair.generate()
        let same = TrustedService(enclaveKey: key.publicKey, network: "tvm:-239", asset: "USDT", ticketKey: key.publicKey)
        let claims = TicketClaims(iss: Hex.encode(key.publicKey), sub: Buyer(index: 105).address.raw, aud: "a", scope: "GET:/", iat: 10, nbf: 10,
                                  exp: 60, jti: "j", amt: "1", asset: "USDT", payTo: sellerAddress().raw, uses: nil)
        let token = jws(header: #"{"alg":"EdDSA","kid":"\#(TicketJWK(publicKey: key.publicKey).kid)","typ":"JWT"}"#,
                        payload: String(decoding: try JSONEncoder().encode(claims), as: UTF8.self)) { key.sign($0) }
        let policy = TicketPolicy(audience: "a", payTo: sellerAddress(), minimumAmount: 1, maxLifetimeSeconds: 60, scope: try TicketScope(parsing: "GET:/"))
        do {
            _ = try await TicketCheck().verify(token, trusted: same, policy: policy, method: "GET", path: "/", now: 20)
            Issue.record("a token signed by the receipt key was accepted")
        } catch { #expect(error.code == "invalid_ticket") }
        // The same token under a service with a separate ticket key of that value passes: the guard,
        // not the claims, refused it above.
        let separate = TrustedService(enclaveKey: Ed25519KeyPair.generate().publicKey, network: "tvm:-239", asset: "USDT", ticketKey: key.publicKey)
        var claimsSeparate = claims; claimsSeparate.iss = Hex.encode(separate.enclaveKey)
        let tokenSeparate = jws(header: #"{"alg":"EdDSA","kid":"\#(TicketJWK(publicKey: key.publicKey).kid)","typ":"JWT"}"#,
                                payload: String(decoding: try JSONEncoder().encode(claimsSeparate), as: UTF8.self)) { key.sign($0) }
        #expect(try await TicketCheck().verify(tokenSeparate, trusted: separate, policy: policy, method: "GET", path: "/", now: 20).jti == "j")
    }
}
