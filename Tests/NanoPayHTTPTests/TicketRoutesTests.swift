import Foundation
import HTTPTypes
import Hummingbird
import NanoPayCore
import NanoPayTestSupport
import Testing

/// `POST /tickets` (PAYMENT-SIGNATURE header) and `POST /tickets/access-token` (x402_mock's
/// names) on a live server.
@Suite struct TicketRoutesTests {
    static func ticketOffer(_ s: LiveClient, scope: String = "GET:/api/*") -> X402.PaymentRequirements {
        X402.PaymentRequirements(network: s.fixture.service.configuration.network, asset: s.fixture.service.configuration.asset,
                                 amount: "300", payTo: sellerAddress().raw,
                                 extra: ["ticket": .object(["endpoint": .string("http://127.0.0.1/tickets"), "scope": .string(scope),
                                                            "lifetimeSeconds": .number(60)])])
    }

    @Test(arguments: LedgerEngine.allCases) func ticketsForAPaymentSignatureAndTheAccessTokenFlow(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let buyer = Buyer(index: 95)
            _ = try await s.deposit(buyer, "1000")
            let auth = s.fixture.authorization(buyer, amount: 300, version: .v2)
            let header = X402.encodeHeader(X402.PaymentPayload(accepted: Self.ticketOffer(s), authorization: auth))
            let signature = HTTPField.Name(X402.paymentSignatureHeader)!
            let answer = try await s.send(.post, "/tickets", headers: [signature: header])
            #expect(answer.status == 200, "\(answer.text)")
            let ticket = try #require(answer["ticket"] as? String)
            #expect(answer["expiresAt"] as? Int == Int(s.fixture.nowSeconds) + 60 && answer["replayed"] as? Bool == false)
            #expect((answer["receipt"] as? [String: Any])?["amount"] as? String == "300")
            let settle = try X402.decodeHeader(X402.SettleResponse.self, from: try #require(answer.headers[HTTPField.Name(X402.paymentResponseHeader)!]))
            #expect(settle.success && settle.amount == "300")
            // The same payment through the access-token flow: the same ticket, under its names.
            let body = String(decoding: try JSONEncoder().encode(X402.PaymentPayload(accepted: Self.ticketOffer(s), authorization: auth)), as: UTF8.self)
            let token = try await s.send(.post, "/tickets/access-token", body: body)
            #expect(token.status == 200 && token["access_token"] as? String == ticket && token["token_type"] as? String == "Bearer")
            #expect(token["expires_in"] as? Int == 60)
            // Other terms for the same payment: 409; no header: 400; a broken header: 400.
            let wider = X402.encodeHeader(X402.PaymentPayload(accepted: Self.ticketOffer(s, scope: "*:/*"), authorization: auth))
            expectError(try await s.send(.post, "/tickets", headers: [signature: wider]), 409, "ticket_terms_conflict")
            expectError(try await s.send(.post, "/tickets"), 400, "invalid_request")
            expectError(try await s.send(.post, "/tickets", headers: [signature: "%%%"]), 400, "invalid_request")
            expectError(try await s.send(.post, "/tickets/access-token", body: "{}"), 400, "invalid_request")
            #expect(try await s.send(.get, "/balance/\(buyer.address.raw)")["available"] as? String == "700")
            // A ticket needs money like any payment.
            let poor = Buyer(index: 96)
            _ = try await s.deposit(poor, "10")
            let unpaid = X402.encodeHeader(X402.PaymentPayload(accepted: Self.ticketOffer(s), authorization: s.fixture.authorization(poor, amount: 300, version: .v2)))
            expectError(try await s.send(.post, "/tickets", headers: [signature: unpaid]), 402, "insufficient_balance")
        }
    }
}
