import Foundation
import Hummingbird
import NanoPayCore
import NanoPayService
import NanoPayTestSupport
import Testing

@Suite struct RoutesContractTests {
    @Test(arguments: LedgerEngine.allCases) func depositsWithdrawalsBalancesAndKeys(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let buyer = Buyer(index: 10)
            let zero = try await s.send(.get, "/balance/\(buyer.address.friendly(bounceable: false)!)")
            #expect(zero.status == 200 && zero["address"] as? String == buyer.address.raw && zero["available"] as? String == "0")
            expectError(try await s.send(.get, "/balance/not-an-address"), 400, "invalid_request")
            // Deposits need the operator; same reference twice is 200 unchanged; reuse otherwise 409.
            expectError(try await s.send(.post, "/deposits", body: "{}"), 401, "unauthorized")
            expectError(try await s.send(.post, "/deposits", body: "{}", token: "nope"), 403, "forbidden")
            #expect(try await s.deposit(buyer, "500", reference: "chain-tx-1")["available"] as? String == "500")
            #expect(try await s.deposit(buyer, "500", reference: "chain-tx-1")["available"] as? String == "500")
            expectError(try await s.deposit(buyer, "501", reference: "chain-tx-1"), 409, "reference_conflict")
            expectError(try await s.op(.post, "/deposits", #"{"address":"\#(buyer.address.raw)","amount":"1","publicKey":"\#(Hex.encode(Buyer(index: 11).keys.publicKey))","reference":"chain-tx-2"}"#), 409, "public_key_conflict")
            // Withdrawals: 402 when available is short, idempotent by reference.
            expectError(try await s.op(.post, "/withdrawals", #"{"address":"\#(buyer.address.raw)","amount":"501","reference":"w-1"}"#), 402, "insufficient_balance")
            #expect(try await s.op(.post, "/withdrawals", #"{"address":"\#(buyer.address.raw)","amount":"200","reference":"w-1"}"#)["available"] as? String == "300")
            #expect(try await s.op(.post, "/withdrawals", #"{"address":"\#(buyer.address.raw)","amount":"200","reference":"w-1"}"#)["totalWithdrawn"] as? String == "200")
            // Key rotation (operator) then the new key pays.
            let newKey = Buyer(index: 11).keys
            #expect(try await s.op(.post, "/keys/rotate", #"{"address":"\#(buyer.address.raw)","publicKey":"\#(Hex.encode(newKey.publicKey))"}"#).status == 200)
            let auth = PaymentAuthorization.sign(keyPair: newKey, from: buyer.address, to: sellerAddress(), amount: 5, validBefore: s.fixture.nowSeconds + 60)
            #expect(try await s.verify(AuthorizationFields(auth)).status == 200)
        }
    }

    @Test(arguments: LedgerEngine.allCases) func policiesOperatorAndPayerSigned(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let buyer = Buyer(index: 12)
            _ = try await s.deposit(buyer, "100")
            expectError(try await s.send(.get, "/policy/\(buyer.address.raw)"), 404, "policy_not_found")
            expectError(try await s.send(.post, "/policy", body: #"{"address":"\#(buyer.address.raw)","maxAmount":"5"}"#), 401, "unauthorized")
            let set = try await s.op(.post, "/policy", #"{"address":"\#(buyer.address.raw)","maxAmount":"1000","rateLimit":60,"dailyCap":"5000"}"#)
            #expect(set.status == 200 && set["maxAmount"] as? String == "1000" && set["rateLimit"] as? Int == 60 && set["dailyCap"] as? String == "5000")
            let read = try await s.send(.get, "/policy/\(buyer.address.raw)")
            #expect(read.status == 200 && read["maxAmount"] as? String == "1000")
            // null clears, absent keeps.
            let cleared = try await s.op(.post, "/policy", #"{"address":"\#(buyer.address.raw)","dailyCap":null}"#)
            #expect(cleared["dailyCap"] == nil && cleared["maxAmount"] as? String == "1000")
            expectError(try await s.op(.post, "/policy", #"{"address":"\#(buyer.address.raw)","rateLimit":0}"#), 400, "invalid_request")
            expectError(try await s.op(.post, "/policy", #"{"address":"\#(buyer.address.raw)","maxAmount":"-1"}"#), 400, "invalid_request")
            // Payer-signed tightening: 200; a loosening 403; a bad signature 401.
            let vb = s.fixture.nowSeconds + 60
            let domain = s.fixture.service.domain
            let version = cleared["version"] as? Int ?? -1
            #expect(version == 2, "two operator changes so far")
            let sig = PolicyTightening.sign(keyPair: buyer.keys, domain: domain, address: buyer.address, version: 2, maxAmount: 500, rateLimit: nil, dailyCap: nil, validBefore: vb)
            let signedBody = #"{"address":"\#(buyer.address.raw)","maxAmount":"500","validBefore":\#(vb),"version":2,"signature":"\#(Hex.encode(sig))"}"#
            let tightened = try await s.send(.post, "/policy", body: signedBody)
            #expect(tightened.status == 200 && tightened["maxAmount"] as? String == "500" && tightened["updatedBy"] as? String == "payer" && tightened["version"] as? Int == 3)
            // The same request again (a replay) is a conflict, not a second application.
            expectError(try await s.send(.post, "/policy", body: signedBody), 409, "policy_conflict")
            let looser = PolicyTightening.sign(keyPair: buyer.keys, domain: domain, address: buyer.address, version: 3, maxAmount: 900, rateLimit: nil, dailyCap: nil, validBefore: vb)
            expectError(try await s.send(.post, "/policy", body: #"{"address":"\#(buyer.address.raw)","maxAmount":"900","validBefore":\#(vb),"version":3,"signature":"\#(Hex.encode(looser))"}"#), 403, "policy_not_tighter")
            expectError(try await s.send(.post, "/policy", body: #"{"address":"\#(buyer.address.raw)","maxAmount":"400","validBefore":\#(vb),"version":3,"signature":"\#(Hex.encode(sig))"}"#), 401, "invalid_signature")
            expectError(try await s.send(.post, "/policy", body: #"{"address":"\#(buyer.address.raw)","maxAmount":"400","validBefore":\#(vb),"signature":"\#(Hex.encode(sig))"}"#), 400, "invalid_request")
        }
    }

    /// The operator's account history: both directions, newest first, held payments included,
    /// any spelling of the address, bounded and behind the operator token.
    @Test(arguments: LedgerEngine.allCases) func accountHistoryNewestFirstBothWays(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let buyer = Buyer(index: 14), other = Buyer(index: 15)
            _ = try await s.deposit(buyer, "1000")
            _ = try await s.deposit(other, "1000")
            #expect(try await s.verify(s.fixture.authorization(buyer, amount: 7)).status == 200)
            s.fixture.clock.advance(seconds: 1)
            _ = try await s.op(.post, "/policy", #"{"address":"\#(buyer.address.raw)","maxAmount":"10"}"#)
            let held = try await s.verify(s.fixture.authorization(buyer, amount: 50))
            #expect(held.status == 202)
            s.fixture.clock.advance(seconds: 1)
            // The buyer also receives one.
            let incoming = PaymentAuthorization.sign(keyPair: other.keys, from: other.address, to: buyer.address, amount: 3,
                                                     validBefore: s.fixture.nowSeconds + 60)
            #expect(try await s.verify(AuthorizationFields(incoming)).status == 200)

            let path = "/accounts/\(buyer.address.friendly(bounceable: true)!)/payments"
            expectError(try await s.send(.get, path), 401, "unauthorized")
            let history = try await s.op(.get, path)
            #expect(history.status == 200 && history["address"] as? String == buyer.address.raw)
            let rows = history["payments"] as? [[String: Any]] ?? []
            #expect(rows.map { $0["amount"] as? String } == ["3", "50", "7"])
            #expect(rows.map { $0["status"] as? String } == ["settled", "held", "settled"])
            #expect(rows[0]["from"] as? String == other.address.raw && rows[0]["to"] as? String == buyer.address.raw)
            #expect(rows[1]["approvalId"] as? String == held["approvalId"] as? String && rows[1]["confirmationId"] == nil)
            #expect(rows[2]["confirmationId"] is String && rows[2]["createdAt"] as? Int == Int(s.fixture.nowSeconds) - 2)
            #expect((try await s.op(.get, path + "?limit=2")["payments"] as? [Any])?.count == 2)
            expectError(try await s.op(.get, path + "?limit=0"), 400, "invalid_request")
            expectError(try await s.op(.get, path + "?limit=201"), 400, "invalid_request")
            expectError(try await s.op(.get, path + "?limit=x"), 400, "invalid_request")
            expectError(try await s.op(.get, "/accounts/nope/payments"), 400, "invalid_request")
            #expect((try await s.op(.get, "/accounts/\(Buyer(index: 16).address.raw)/payments")["payments"] as? [Any])?.isEmpty == true)
        }
    }

    @Test(arguments: LedgerEngine.allCases) func attestationHealthStatsAndMetrics(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let nonce = Sodium.randomBytes(32)
            let answer = try await s.send(.get, "/attestation?nonce=\(Hex.encode(nonce))")
            #expect(answer.status == 200)
            let quote = try JSONDecoder().decode(AttestationQuote.self, from: Data(answer.text.utf8))
            let verified = try QuoteVerifier(policy: .init(pinnedRoot: Hex.encode(s.fixture.enclave.attestation.rootPublicKey),
                                                           expectedNonce: Hex.encode(nonce), allowSoftware: true,
                                                           now: s.fixture.nowSeconds)).verify(quote)
            #expect(verified.enclavePublicKey == s.fixture.enclave.publicKey)
            // The JWKS publishes the attested ticket key, with its thumbprint as kid.
            let jwks = try JSONDecoder().decode(TicketJWK.Set.self, from: Data(try await s.send(.get, "/.well-known/jwks.json").text.utf8))
            #expect(jwks.keys.count == 1 && jwks.keys[0].publicKey == verified.ticketPublicKey && jwks.keys[0].kid == s.fixture.enclave.ticketKeyId)
            #expect(jwks.keys[0].kty == "OKP" && jwks.keys[0].crv == "Ed25519" && jwks.keys[0].alg == "EdDSA")
            expectError(try await s.send(.get, "/attestation?nonce=zz"), 400, "invalid_request")
            expectError(try await s.send(.get, "/attestation?nonce=" + String(repeating: "00", count: 65)), 400, "invalid_request")
            #expect(try await s.send(.get, "/health")["status"] as? String == "ok")
            let stats = try await s.send(.get, "/stats")
            #expect(stats.status == 200 && stats["accounts"] as? Int == 0 && stats["pendingApprovals"] as? Int == 0)
            let metrics = try await s.send(.get, "/metrics")
            #expect(metrics.status == 200)
            // Requests by route pattern (never a raw path), payment outcomes, levels.
            #expect(metrics.text.contains("hb_requests_total{http_route=\"/stats\",http_request_method=\"GET\",http_response_status_code=\"200\"}") ||
                    metrics.text.contains("hb_requests{http_route=\"/stats\",http_request_method=\"GET\",http_response_status_code=\"200\"}"), "\(metrics.text.prefix(3000))")
            #expect(metrics.text.contains("http_server_request_duration"))
            #expect(metrics.text.contains("nanopay_ledger_writer_queue_depth") && metrics.text.contains("nanopay_storage_healthy 1"))
            #expect(!metrics.text.contains(s.fixture.enclave.publicKey.map { String(format: "%02x", $0) }.joined()))
        }
    }

    /// Hostile and malformed input: always the JSON error body with the right status, never a 500.
    @Test(arguments: LedgerEngine.allCases) func malformedInputTable(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let buyer = Buyer(index: 13)
            _ = try await s.deposit(buyer, "100")
            let good = s.fixture.authorization(buyer, amount: 1)
            let goodObject = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(good)) as? [String: Any])
            func with(_ key: String, _ value: String) throws -> String {
                var obj = goodObject
                obj[key] = try JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
                return String(decoding: try JSONSerialization.data(withJSONObject: obj), as: UTF8.self)
            }
            func without(_ key: String) throws -> String {
                var obj = goodObject
                obj[key] = nil
                return String(decoding: try JSONSerialization.data(withJSONObject: obj), as: UTF8.self)
            }
            let table: [String] = try [
                "", "{", "[]", "null", "\"text\"", "{\"from\": 1}", without("from"), without("signature"), without("validBefore"),
                with("amount", "\"010\""), with("amount", "\"0\""), with("amount", "\"1.0\""), with("amount", "\"-1\""), with("amount", "\"+1\""),
                with("amount", "\"340282366920938463463374607431768211456\""), with("amount", "1"), with("validBefore", "\"soon\""),
                with("validBefore", "-5"), with("nonce", "\"abcd\""), with("nonce", "\"" + String(repeating: "zz", count: 32) + "\""),
                with("signature", "\"00\""), with("from", "\"EQ-not-an-address\""), with("to", "\"0:1234\""), with("publicKey", "\"xx\""),
                with("version", "7"), with("to", "\"\(buyer.address.raw)\""),
            ]
            for body in table {
                let answer = try await s.send(.post, "/verify", body: body)
                #expect(answer.status == 400, "\(body.prefix(80)) -> \(answer.status) \(answer.text)")
                #expect(answer["success"] as? Bool == false && answer.errorCode != nil)
            }
            // Body limit, unknown routes, wrong methods.
            expectError(try await s.send(.post, "/verify", body: String(repeating: " ", count: 64 * 1024 + 1)), 413, "payload_too_large")
            expectError(try await s.send(.get, "/nowhere"), 404, "not_found")
            expectError(try await s.send(.get, "/balance"), 404, "not_found")
            let wrongMethod = try await s.send(.delete, "/verify")
            expectError(wrongMethod, 405, "method_not_allowed")
            #expect(wrongMethod.headers[.allow] == "POST")
            expectError(try await s.send(.put, "/approvals/x/approve", token: operatorTokenForTests), 405, "method_not_allowed")
            // Nothing was half-written by any of it.
            #expect(try await s.fixture.checkInvariants().isConsistent)
            #expect(try await s.fixture.store.balance(buyer.address).available == 100)
        }
    }
}

@Suite struct ConfigurationTests {
    @Test func networkAliasesMapToCAIP2() {
        #expect(ServiceConfiguration.canonicalNetwork("ton-mainnet") == "tvm:-239")
        #expect(ServiceConfiguration.canonicalNetwork("ton-testnet") == "tvm:-3")
        #expect(ServiceConfiguration.canonicalNetwork("tvm:-239") == "tvm:-239")
        for bad in ["", "tvm", "TVM:-239", "tvm:", "x:y", "tvm:-239:1"] { #expect(ServiceConfiguration.canonicalNetwork(bad) == nil) }
    }
}
