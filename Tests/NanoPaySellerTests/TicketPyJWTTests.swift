import Foundation
import NanoPayClient
import NanoPayCore
import NanoPaySeller
import NanoPayTestSupport
import Testing

/// An independent verifier (PyJWT and `cryptography`: attestation/verify_ticket.py) accepts a
/// ticket nanopayd issued, checked against the JWKS document and the attested ticket key, and
/// refuses each forgery the Swift seller refuses.
@Suite struct TicketPyJWTTests {
    static let script = TestBinaries.repositoryRoot.appendingPathComponent("attestation/verify_ticket.py").path

    struct Verifier {
        let dir: TempDirectory
        let jwksPath: String
        let args: [String: String]

        func run(_ token: String, _ overrides: [String: String] = [:]) throws -> (status: Int32, output: String) {
            let ticketPath = dir.path + "/ticket-\(UUID().uuidString).jwt"
            try token.write(toFile: ticketPath, atomically: true, encoding: .utf8)
            var arguments = [TicketPyJWTTests.script, ticketPath, "--jwks", jwksPath]
            for (k, v) in args.merging(overrides, uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) { arguments += ["--" + k, v] }
            return try runProcess("python3", arguments)
        }
    }

    @Test func pyJWTAcceptsTheGenuineTicketAndRefusesEveryForgery() async throws {
        try await withTicketSeller { s in
            let f = s.fixture
            let dir = TempDirectory(); defer { dir.remove() }
            let jwksPath = dir.path + "/jwks.json"
            try JSONEncoder().encode(f.service.ticketKeys).write(to: URL(fileURLWithPath: jwksPath))
            let v = Verifier(dir: dir, jwksPath: jwksPath, args: [
                "ticket-key": Hex.encode(f.enclave.ticketPublicKey), "iss": Hex.encode(f.enclave.publicKey), "aud": "report-api",
                "pay-to": sellerAddress().raw, "asset": "USDT", "min-amount": "500", "max-lifetime": "120", "method": "GET",
                "scope": "GET:/api/report/*",
                "path": "/api/report/monday", "now": String(f.nowSeconds)])
            let buyer = Buyer(index: 110)
            try await f.fund(buyer, 100_000)
            let genuine = try await s.buy(buyer)
            let ok = try v.run(genuine)
            #expect(ok.status == 0 && ok.output.contains("valid ticket") && ok.output.contains(buyer.address.raw), "\(ok.output)")

            let parts = genuine.split(separator: ".").map(String.init)
            let header = String(decoding: try #require(Base64.decode(parts[0], urlSafeAllowed: true)), as: UTF8.self)
            let payload = try payloadJSON(of: genuine)
            let kid = f.enclave.ticketKeyId
            let stranger = Ed25519KeyPair.generate()
            var sig = try #require(Base64.decode(parts[2], urlSafeAllowed: true)); sig[5] ^= 1
            let base = try JSONDecoder().decode(TicketClaims.self, from: Data(payload.utf8))
            func issued(_ change: (inout TicketClaims) -> Void) -> String { var c = base; change(&c); return f.enclave.issueTicket(c) }
            let cases: [(String, String, [String: String])] = [
                ("alg none", Base64.url(Array(#"{"alg":"none","kid":"\#(kid)","typ":"JWT"}"#.utf8)) + "." + parts[1] + ".", [:]),
                ("HS256 with the public key", jws(header: #"{"alg":"HS256","kid":"\#(kid)","typ":"JWT"}"#, payload: payload) {
                    Sodium.hmacSHA256(key: f.enclave.ticketPublicKey, message: $0) }, [:]),
                ("foreign kid", jws(header: #"{"alg":"EdDSA","kid":"\#(TicketJWK(publicKey: stranger.publicKey).kid)","typ":"JWT"}"#, payload: payload) { stranger.sign($0) }, [:]),
                ("another key under our kid", jws(header: header, payload: payload) { stranger.sign($0) }, [:]),
                ("tampered payload", Base64.url(Array(header.utf8)) + "." + Base64.url(Array(payload.replacingOccurrences(of: "GET:/api/report/*", with: "*:/*").utf8)) + "." + parts[2], [:]),
                ("tampered signature", parts[0] + "." + parts[1] + "." + Base64.url(sig), [:]),
                ("expired", genuine, ["now": String(f.nowSeconds + 126)]),
                ("not yet valid", issued { $0.nbf = f.nowSeconds + 60; $0.iat = $0.nbf; $0.exp = $0.nbf + 100 }, [:]),
                ("wrong audience", genuine, ["aud": "other-api"]),
                ("scope", genuine, ["path": "/api/admin"]),
                ("another deployment's iss", issued { $0.iss = Hex.encode(stranger.publicKey) }, [:]),
                ("underpaid", genuine, ["min-amount": "501"]),
                ("another payee", genuine, ["pay-to": sellerAddress(7).raw]),
                ("too long", genuine, ["max-lifetime": "119"]),
                ("a JWKS key that is not the attested one", genuine, ["ticket-key": Hex.encode(stranger.publicKey)]),
                ("the receipt key as ticket key", genuine, ["ticket-key": Hex.encode(f.enclave.publicKey)]),
                ("a genuine ticket bought for a wider scope", try await s.buy(buyer, offer: try s.offer(scope: "*:/*")), [:]),
                ("a genuine ticket without the seller's use limit", genuine, ["uses": "10"]),
                ("another asset", genuine, ["asset": "USDC"]),
            ]
            for (name, token, overrides) in cases {
                let answer = try v.run(token, overrides)
                #expect(answer.status == 2, "PyJWT verifier accepted: \(name)\n\(answer.output)")
            }

            // With a ticket key the test holds, a validly signed token can get the header wrong
            // on its own: the verifier's own header checks must refuse it.
            let own = Ed25519KeyPair.generate()
            let ownJWKS = dir.path + "/own-jwks.json"
            try JSONEncoder().encode(TicketJWK.Set(keys: [TicketJWK(publicKey: own.publicKey)])).write(to: URL(fileURLWithPath: ownJWKS))
            let ownVerifier = Verifier(dir: dir, jwksPath: ownJWKS, args: v.args.merging(["ticket-key": Hex.encode(own.publicKey)]) { $1 })
            let ownKid = TicketJWK(publicKey: own.publicKey).kid
            let wellFormed = jws(header: #"{"alg":"EdDSA","kid":"\#(ownKid)","typ":"JWT"}"#, payload: payload) { own.sign($0) }
            #expect(try ownVerifier.run(wellFormed).status == 0, "the harness token passes")
            let wrongTyp = jws(header: #"{"alg":"EdDSA","kid":"\#(ownKid)","typ":"at+jwt"}"#, payload: payload) { own.sign($0) }
            #expect(try ownVerifier.run(wrongTyp).status == 2, "PyJWT verifier accepted a typ other than JWT")
        }
    }
}
