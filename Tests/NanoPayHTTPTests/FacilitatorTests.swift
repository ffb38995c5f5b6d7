import Foundation
import Hummingbird
import NanoPayCore
import NanoPayTestSupport
import Testing

@Suite struct FacilitatorTests {
    func request(_ s: LiveClient, _ buyer: Buyer, amount: UInt128 = 1000, requirementsAmount: String = "1000", payTo: String? = nil,
                 network: String = "tvm:-239", auth: AuthorizationFields? = nil) -> (String, AuthorizationFields) {
        let a = auth ?? s.fixture.authorization(buyer, amount: amount, version: .v2)
        let requirements = X402.PaymentRequirements(network: network, asset: "USDT", amount: requirementsAmount, payTo: payTo ?? sellerAddress().raw)
        let body = X402.FacilitatorRequest(paymentPayload: X402.PaymentPayload(accepted: requirements, authorization: a), paymentRequirements: requirements)
        return (String(decoding: try! JSONEncoder().encode(body), as: UTF8.self), a)
    }

    @Test(arguments: LedgerEngine.allCases) func supportedVerifyAndSettle(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let buyer = Buyer(index: 30)
            _ = try await s.deposit(buyer, "5000")
            let supported = try await s.send(.get, "/x402/supported")
            let kinds = try #require(supported["kinds"] as? [[String: Any]])
            #expect(kinds.first?["scheme"] as? String == "ton-nanopay" && kinds.first?["network"] as? String == "tvm:-239")
            #expect((supported["signers"] as? [String: [String]])?["tvm:*"] == [Hex.encode(s.fixture.enclave.publicKey)])

            let (body, _) = request(s, buyer)
            // Verify is read-only, however often it is called.
            for _ in 0..<3 {
                let v = try await s.send(.post, "/x402/verify", body: body)
                #expect(v.status == 200 && v["isValid"] as? Bool == true && v["payer"] as? String == buyer.address.raw)
            }
            #expect(try await s.fixture.store.balance(buyer.address).available == 5000)
            // Settle debits once; settling the same payload again is refused (a resource server
            // serves one response per successful settle).
            let first = try await s.send(.post, "/x402/settle", body: body)
            #expect(first.status == 200 && first["success"] as? Bool == true)
            let tx = try #require(first["transaction"] as? String)
            let settled = try JSONDecoder().decode(X402.SettleResponse.self, from: Data(first.text.utf8))
            let receipt = try #require(settled.extra?["receipt"].flatMap { Receipt(jsonValue: $0) })
            #expect(receipt.verify(pinnedEnclaveKey: s.fixture.enclave.publicKey) && receipt.confirmationId == tx)
            let again = try await s.send(.post, "/x402/settle", body: body)
            #expect(again["success"] as? Bool == false && again["errorReason"] as? String == "nonce_already_used")
            #expect(try await s.fixture.store.balance(buyer.address).available == 4000)
            // After settlement the payload no longer verifies (replay).
            #expect(try await s.send(.post, "/x402/verify", body: body)["invalidReason"] as? String == "nonce_already_used")
        }
    }

    @Test(arguments: LedgerEngine.allCases) func refusalsAreStableReasonsOnHTTP200(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let buyer = Buyer(index: 31)
            _ = try await s.deposit(buyer, "5000")
            func reason(_ body: String, _ path: String = "/x402/verify") async throws -> String? {
                let a = try await s.send(.post, path, body: body)
                #expect(a.status == 200, "\(a.text)")
                return (a["invalidReason"] ?? a["errorReason"]) as? String
            }
            #expect(try await reason(request(s, buyer, amount: 999).0) == "amount_mismatch")          // underpayment
            #expect(try await reason(request(s, buyer, payTo: sellerAddress(1).raw).0) == "recipient_mismatch")
            #expect(try await reason(request(s, buyer, network: "tvm:-3").0) == "invalid_network")
            #expect(try await reason(request(s, buyer, amount: 9000, requirementsAmount: "9000").0) == "insufficient_funds")
            #expect(try await reason("{not json") == "invalid_payload")
            #expect(try await reason("{not json", "/x402/settle") == "invalid_payload")
            var forged = s.fixture.authorization(buyer, amount: 1000, version: .v2); forged.signature = String(repeating: "00", count: 64)
            #expect(try await reason(request(s, buyer, auth: forged).0) == "invalid_signature")
            let body = String(decoding: try JSONEncoder().encode(X402.FacilitatorRequest(
                paymentPayload: X402.PaymentPayload(accepted: X402.PaymentRequirements(network: "tvm:-239", asset: "USDT", amount: "1000", payTo: sellerAddress().raw),
                                                    authorization: s.fixture.authorization(buyer, amount: 1000)),
                paymentRequirements: X402.PaymentRequirements(scheme: "exact", network: "tvm:-239", asset: "USDT", amount: "1000", payTo: sellerAddress().raw))), as: UTF8.self)
            #expect(try await reason(body) == "unsupported_scheme")
            #expect(try await s.fixture.store.balance(buyer.address).available == 5000) // nothing moved
        }
    }

    /// Attack: one PAYMENT-SIGNATURE settled many times in parallel (an SDK resource server runs
    /// verify, its handler, then settle, per request). Exactly one settle may succeed.
    @Test(arguments: LedgerEngine.allCases) func concurrentSettlesOfOnePayloadGiveOneSuccess(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let buyer = Buyer(index: 32)
            _ = try await s.deposit(buyer, "50000")
            let (body, _) = request(s, buyer)
            let successes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<16 { group.addTask { try await s.send(.post, "/x402/settle", body: body)["success"] as? Bool == true } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(successes == 1)
            #expect(try await s.fixture.store.balance(buyer.address).available == 49_000)
        }
    }

    func withIdentifier(_ body: String, _ id: String) throws -> String {
        var request = try JSONDecoder().decode(X402.FacilitatorRequest.self, from: Data(body.utf8))
        request.paymentPayload.extensions = ["payment-identifier": .object(["info": .object(["required": .bool(false), "id": .string(id)])])]
        return String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
    }

    /// The x402 payment-identifier extension: a settle that repeats the id and the payload gets
    /// the original answer, marked as a repeat; the same id on another payload is refused.
    @Test(arguments: LedgerEngine.allCases) func paymentIdentifierMakesSettleIdempotentForItsOwnPayloadOnly(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let buyer = Buyer(index: 33)
            _ = try await s.deposit(buyer, "5000")
            let id = "pay_0123456789abcdef"
            let body = try withIdentifier(request(s, buyer).0, id)
            let first = try JSONDecoder().decode(X402.SettleResponse.self, from: Data(try await s.send(.post, "/x402/settle", body: body).text.utf8))
            #expect(first.success && first.extensions?["payment-identifier"]?["repeated"] == .bool(false))
            // Concurrent repeats with the same id all get the original transaction; one debit.
            let repeats = try await withThrowingTaskGroup(of: X402.SettleResponse.self) { group in
                for _ in 0..<8 {
                    group.addTask { try JSONDecoder().decode(X402.SettleResponse.self, from: Data(try await s.send(.post, "/x402/settle", body: body).text.utf8)) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for r in repeats {
                #expect(r.success && r.transaction == first.transaction && r.extensions?["payment-identifier"]?["repeated"] == .bool(true))
                #expect(r.extra?["receipt"] == first.extra?["receipt"])
            }
            // Verify stays strict: a settled payload is not valid again, id or not.
            #expect(try await s.send(.post, "/x402/verify", body: body)["isValid"] as? Bool == false)
            // The same id on another authorization is refused, and debits nothing.
            let other = try await s.send(.post, "/x402/settle", body: try withIdentifier(request(s, buyer).0, id))
            #expect(other["success"] as? Bool == false && other["errorReason"] as? String == "payment_identifier_conflict")
            // The same payload without the id (or with another id) is a plain replay.
            let plain = try await s.send(.post, "/x402/settle", body: request(s, buyer, auth: try JSONDecoder().decode(X402.FacilitatorRequest.self, from: Data(body.utf8)).paymentPayload.authorizationFields()).0)
            #expect(plain["errorReason"] as? String == "nonce_already_used")
            let otherId = try await s.send(.post, "/x402/settle", body: try withIdentifier(body, "pay_fedcba9876543210"))
            #expect(otherId["errorReason"] as? String == "nonce_already_used")
            // Malformed ids are refused before anything happens.
            let bad = try await s.send(.post, "/x402/settle", body: try withIdentifier(request(s, buyer).0, "short"))
            #expect(bad["errorReason"] as? String == "invalid_payment_identifier")
            #expect(try await s.fixture.store.balance(buyer.address).available == 4000)
        }
    }

    /// Attack: a v1 header (it signs account hashes, not workchains) resubmitted with `to` on
    /// another workchain. Refused without a debit; the genuine submission then pays, and is not
    /// a replay.
    @Test(arguments: LedgerEngine.allCases) func aV1AuthorizationRedirectedToAnotherWorkchainIsRefused(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let buyer = Buyer(index: 34)
            _ = try await s.deposit(buyer, "5000")
            let genuine = s.fixture.authorization(buyer, to: sellerAddress(), amount: 1000, version: .v1)
            for workchain in ["-1", "7"] {
                var redirected = genuine
                redirected.to = workchain + ":" + genuine.to.split(separator: ":")[1]
                let answer = try await s.send(.post, "/verify", json: redirected)
                expectError(answer, 400, "invalid_request")
                #expect((answer["message"] as? String ?? "").contains("v2"))
            }
            #expect(try await s.fixture.store.balance(buyer.address).available == 5000)
            let paid = try await s.send(.post, "/verify", json: genuine)
            #expect(paid.status == 200 && paid["replayed"] as? Bool == false)
            #expect(try await s.fixture.store.balance(buyer.address).available == 4000)
        }
    }

    /// The wall clock stepped back under a running service: /stats keeps answering.
    @Test(arguments: LedgerEngine.allCases) func statsSurviveTheClockSteppingBack(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            #expect(try await s.send(.get, "/stats").status == 200)
            s.fixture.clock.set(milliseconds: Fixture.startMilliseconds - 3_600_000)
            let stats = try await s.send(.get, "/stats")
            #expect(stats.status == 200 && stats["uptimeSeconds"] as? Int != nil)
        }
    }
}
