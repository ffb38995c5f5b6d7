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

    @Test func supportedVerifyAndSettle() async throws {
        try await withLiveServer { s in
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
            #expect(try s.fixture.ledger.balance(buyer.address).available == 5000)
            // Settle debits once; settling the same payload again returns the same transaction.
            let first = try await s.send(.post, "/x402/settle", body: body)
            #expect(first.status == 200 && first["success"] as? Bool == true)
            let tx = try #require(first["transaction"] as? String)
            let receipt = try JSONDecoder().decode(Receipt.self, from: JSONSerialization.data(withJSONObject: (first["extra"] as! [String: Any])["receipt"]!))
            #expect(receipt.verify(pinnedEnclaveKey: s.fixture.enclave.publicKey) && receipt.confirmationId == tx)
            let again = try await s.send(.post, "/x402/settle", body: body)
            #expect(again["success"] as? Bool == true && again["transaction"] as? String == tx)
            #expect(try s.fixture.ledger.balance(buyer.address).available == 4000)
            // After settlement the payload no longer verifies (replay).
            #expect(try await s.send(.post, "/x402/verify", body: body)["invalidReason"] as? String == "nonce_already_used")
        }
    }

    @Test func refusalsAreStableReasonsOnHTTP200() async throws {
        try await withLiveServer { s in
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
            #expect(try s.fixture.ledger.balance(buyer.address).available == 5000) // nothing moved
        }
    }
}
