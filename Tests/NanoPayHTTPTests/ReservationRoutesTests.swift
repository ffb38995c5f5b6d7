import Foundation
import Hummingbird
import NanoPayCore
import NanoPayTestSupport
import Testing

/// Reserve, capture and void on a live server: the status codes and bodies a gateway relies on.
@Suite struct ReservationRoutesTests {
    @Test(arguments: LedgerEngine.allCases) func reserveCaptureVoidOverHTTP(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let buyer = Buyer(index: 135)
            _ = try await s.deposit(buyer, "1000")
            func reserve(_ auth: AuthorizationFields, timeout: Int? = nil, token: String? = gatewayTokenForTests) async throws -> Answer {
                let authJSON = String(decoding: try JSONEncoder().encode(auth), as: UTF8.self)
                return try await s.send(.post, "/reservations", body: #"{"authorization":\#(authJSON)\#(timeout.map { ",\"timeoutSeconds\":\($0)" } ?? "")}"#,
                                     token: token)
            }
            let auth = s.fixture.authorization(buyer, amount: 300, version: .v2)
            // Only the gateway reserves: anyone who saw the PAYMENT-SIGNATURE could otherwise
            // reserve and void it, killing the buyer's payment.
            expectError(try await reserve(auth, token: nil), 401, "unauthorized")
            expectError(try await reserve(auth, token: operatorTokenForTests), 403, "forbidden")
            let reserved = try await reserve(auth, timeout: 60)
            #expect(reserved.status == 201 && reserved.headers[.cacheControl] == "no-store", "\(reserved.text)")
            let id = try #require(reserved["reservationId"] as? String), token = try #require(reserved["captureToken"] as? String)
            #expect(reserved["amount"] as? String == "300" && reserved["expiresAt"] as? Int == Int(s.fixture.nowSeconds) + 60)
            expectError(try await reserve(auth), 409, "authorization_in_use")
            expectError(try await s.verify(auth), 409, "authorization_in_use")
            let wrong = #"{"captureToken":"\#(String(repeating: "ab", count: 32))"}"#
            expectError(try await s.send(.post, "/reservations/\(id)/capture", body: wrong, token: gatewayTokenForTests), 403, "forbidden")
            expectError(try await s.send(.post, "/reservations/\(id)/capture", body: "{}", token: gatewayTokenForTests), 400, "invalid_request")
            expectError(try await s.send(.post, "/reservations/res_nope/void", body: #"{"captureToken":"\#(token)"}"#, token: gatewayTokenForTests), 404, "reservation_not_found")
            let captured = try await s.send(.post, "/reservations/\(id)/capture", body: #"{"captureToken":"\#(token)"}"#, token: gatewayTokenForTests)
            #expect(captured.status == 200 && captured["status"] as? String == "captured" && captured["replayed"] as? Bool == false)
            #expect((captured["receipt"] as? [String: Any])?["amount"] as? String == "300")
            let again = try await s.send(.post, "/reservations/\(id)/capture", body: #"{"captureToken":"\#(token)"}"#, token: gatewayTokenForTests)
            #expect(again.status == 200 && again["replayed"] as? Bool == true && again["confirmationId"] as? String == captured["confirmationId"] as? String)
            expectError(try await s.send(.post, "/reservations/\(id)/void", body: #"{"captureToken":"\#(token)"}"#, token: gatewayTokenForTests), 409, "already_captured")

            let second = try await reserve(s.fixture.authorization(buyer, amount: 200, version: .v2))
            let id2 = try #require(second["reservationId"] as? String), token2 = try #require(second["captureToken"] as? String)
            let voided = try await s.send(.post, "/reservations/\(id2)/void", body: #"{"captureToken":"\#(token2)"}"#, token: gatewayTokenForTests)
            #expect(voided.status == 200 && voided["status"] as? String == "voided")
            expectError(try await s.send(.post, "/reservations/\(id2)/capture", body: #"{"captureToken":"\#(token2)"}"#, token: gatewayTokenForTests), 409, "already_voided")
            expectError(try await reserve(s.fixture.authorization(buyer, amount: 1, version: .v2), timeout: 0), 400, "invalid_request")
            expectError(try await reserve(s.fixture.authorization(buyer, amount: 5_000, version: .v2)), 402, "insufficient_balance")
            let balance = try await s.send(.get, "/balance/\(buyer.address.raw)")
            #expect(balance["available"] as? String == "700" && balance["held"] as? String == "0")
        }
    }
}
