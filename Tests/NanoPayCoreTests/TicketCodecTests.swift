import Foundation
import NanoPayCore
import Testing

/// The pieces tickets are made of: HMAC (RFC 4231 vectors, used by the security tests' HS256
/// forgeries), JWK thumbprints (RFC 8037 appendix A.3), ticket scopes and offers.
@Suite struct TicketCodecTests {
    @Test func hmacSHA256MatchesRFC4231() {
        #expect(Hex.encode(Sodium.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // Test case 6: a key longer than the block size.
        #expect(Hex.encode(Sodium.hmacSHA256(key: [UInt8](repeating: 0xaa, count: 131),
                                             message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func jwkThumbprintMatchesRFC8037() throws {
        // RFC 8037 A.3: x = 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo.
        let key = try #require(Base64.decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", urlSafeAllowed: true))
        #expect(TicketJWK(publicKey: key).kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
    }

    @Test func scopesParseStrictlyAndCoverByPrefix() throws {
        let scope = try TicketScope(parsing: "GET:/api/report/* POST:/api/jobs *:/health")
        #expect(scope.covers(method: "GET", path: "/api/report/monday") && scope.covers(method: "get", path: "/api/report/"))
        #expect(!scope.covers(method: "POST", path: "/api/report/monday") && !scope.covers(method: "GET", path: "/api/reports"))
        #expect(scope.covers(method: "POST", path: "/api/jobs") && !scope.covers(method: "POST", path: "/api/jobs/1"))
        #expect(scope.covers(method: "DELETE", path: "/health") && scope.description == "GET:/api/report/* POST:/api/jobs *:/health")
        for bad in ["", " ", "GET:/a  GET:/b", "get:/a", "GET:a", "GET:/a*b", "GET", ":/a", "GET:/a?x=1", "GET:/a b", "G1:/a",
                    String(repeating: "GET:/a ", count: 200)] {
            #expect(throws: NanoPayError.self, "\(bad.prefix(40))") { try TicketScope(parsing: bad) }
        }
    }

    @Test func offersRoundTripAndDefault() throws {
        let terms = TicketTerms(audience: "api", scope: try TicketScope(parsing: "GET:/x"), lifetimeSeconds: 60, uses: 3)
        let offer = TicketOffer(endpoint: "http://h/tickets", accessTokenEndpoint: "http://h/tickets/access-token", terms: terms)
        #expect(try TicketOffer.from(extra: [TicketOffer.extraKey: offer.json], payTo: "0:aa") == offer)
        let minimal = try #require(try TicketOffer.from(extra: ["ticket": .object(["endpoint": .string("e"), "scope": .string("GET:/x")])], payTo: "0:aa"))
        #expect(minimal.terms.audience == "0:aa" && minimal.terms.lifetimeSeconds == 300 && minimal.terms.uses == nil)
        #expect(try TicketOffer.from(extra: ["name": .string("x")], payTo: "0:aa") == nil)
    }
}
