import Foundation
import Hummingbird
import Ledger
import NanoPayCore
@testable import NanoPayHTTP
import NanoPayService
import NanoPayTestSupport
import Testing

extension LiveClient {
    /// Funds a buyer through `POST /deposits`, registering its key.
    func deposit(_ buyer: Buyer, _ amount: String, reference: String = "ref-\(Hex.encode(Sodium.randomBytes(6)))") async throws -> Answer {
        try await op(.post, "/deposits", #"{"address":"\#(buyer.address.raw)","amount":"\#(amount)","publicKey":"\#(Hex.encode(buyer.keys.publicKey))","reference":"\#(reference)"}"#)
    }

    func verify(_ auth: AuthorizationFields) async throws -> Answer { try await send(.post, "/verify", json: auth) }
}

@Suite struct VerifyContractTests {
    @Test(arguments: LedgerEngine.allCases) func everyVerifyOutcomeHasItsStatusAndCode(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let f = s.fixture
            let buyer = Buyer(index: 1)
            // 403 unknown_payer before any deposit.
            expectError(try await s.verify(f.authorization(buyer, amount: 5)), 403, "unknown_payer")
            #expect(try await s.deposit(buyer, "1000").status == 200)
            // 200, with a receipt that verifies under the enclave key.
            let auth = f.authorization(buyer, amount: 100)
            let ok = try await s.verify(auth)
            #expect(ok.status == 200 && ok["success"] as? Bool == true && ok["replayed"] as? Bool == false)
            #expect(ok["remainingBalance"] as? String == "900")
            let receiptData = try JSONSerialization.data(withJSONObject: ok["receipt"] as Any)
            let receipt = try JSONDecoder().decode(Receipt.self, from: receiptData)
            #expect(receipt.verify(pinnedEnclaveKey: f.enclave.publicKey))
            #expect(ok["confirmationId"] as? String == receipt.confirmationId)
            // Replay: 200 with the same confirmation, replayed.
            let again = try await s.verify(auth)
            #expect(again.status == 200 && again["replayed"] as? Bool == true && again["confirmationId"] as? String == receipt.confirmationId)
            // 409 nonce_reused.
            expectError(try await s.verify(f.authorization(buyer, amount: 101, nonce: Hex.decode(auth.nonce)!)), 409, "nonce_reused")
            // 401 invalid_signature.
            var forged = f.authorization(buyer, amount: 1); forged.amount = "2"
            expectError(try await s.verify(forged), 401, "invalid_signature")
            // 402 insufficient_balance.
            expectError(try await s.verify(f.authorization(buyer, amount: 5_000)), 402, "insufficient_balance")
            // 410 expired.
            expectError(try await s.verify(f.authorization(buyer, amount: 1, validFor: 0)), 410, "expired")
            // GET /receipts/{id}: 200 and 404.
            let stored = try await s.send(.get, "/receipts/\(receipt.confirmationId)")
            #expect(stored.status == 200 && stored["signature"] as? String == receipt.signature)
            expectError(try await s.send(.get, "/receipts/" + String(repeating: "0", count: 32)), 404, "receipt_not_found")
            expectError(try await s.send(.get, "/receipts/not-hex"), 404, "receipt_not_found")
        }
    }

    @Test(arguments: LedgerEngine.allCases) func rateLimitedAnswersCarryRetryAfter(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let buyer = Buyer(index: 2)
            _ = try await s.deposit(buyer, "1000")
            #expect(try await s.op(.post, "/policy", #"{"address":"\#(buyer.address.raw)","rateLimit":1}"#).status == 200)
            #expect(try await s.verify(s.fixture.authorization(buyer, amount: 1)).status == 200)
            let limited = try await s.verify(s.fixture.authorization(buyer, amount: 1))
            expectError(limited, 429, "rate_limited")
            #expect(limited.headers[.retryAfter] == "60")
            #expect(limited["retryAfterSeconds"] as? Int == 60)
        }
    }

    @Test(arguments: LedgerEngine.allCases) func heldPaymentsGoThroughTheApprovalsAPI(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let f = s.fixture
            let buyer = Buyer(index: 3)
            _ = try await s.deposit(buyer, "10000")
            #expect(try await s.op(.post, "/policy", #"{"address":"\#(buyer.address.raw)","maxAmount":"100"}"#).status == 200)
            let auth = f.authorization(buyer, amount: 500, validFor: 3_600)
            let held = try await s.verify(auth)
            #expect(held.status == 202 && held.errorCode == "approval_required" && held["success"] as? Bool == false)
            let id = try #require(held["approvalId"] as? String)
            #expect(held["expiresAt"] as? Int == Int(f.nowSeconds + 300))
            // Operator-only list and read.
            expectError(try await s.send(.get, "/approvals"), 401, "unauthorized")
            expectError(try await s.send(.get, "/approvals", token: "wrong"), 403, "forbidden")
            let list = try await s.op(.get, "/approvals")
            let items = try #require(list["approvals"] as? [[String: Any]])
            #expect(items.count == 1 && items[0]["id"] as? String == id && items[0]["status"] as? String == "pending")
            #expect(items[0]["amount"] as? String == "500" && items[0]["from"] as? String == buyer.address.raw)
            #expect(try await s.op(.get, "/approvals/\(id)")["reason"] as? String != nil)
            expectError(try await s.op(.get, "/approvals/apr_missing"), 404, "approval_not_found")
            expectError(try await s.op(.get, "/approvals?status=bogus"), 400, "invalid_request")
            // Approve: 200 with the receipt; the buyer's next verify is served, then replays.
            let approved = try await s.op(.post, "/approvals/\(id)/approve", #"{"reason":"known customer"}"#)
            #expect(approved.status == 200 && approved["status"] as? String == "approved" && approved["decidedBy"] as? String == "operator")
            #expect(approved["receipt"] as? [String: Any] != nil && approved["decisionReason"] as? String == "known customer")
            let served = try await s.verify(auth)
            #expect(served.status == 200 && served["replayed"] as? Bool == false)
            #expect(try await s.verify(auth)["replayed"] as? Bool == true)
            expectError(try await s.op(.post, "/approvals/\(id)/approve"), 409, "already_approved")
            expectError(try await s.op(.post, "/approvals/\(id)/reject"), 409, "already_approved")
            expectError(try await s.op(.post, "/approvals/apr_missing/approve"), 404, "approval_not_found")
            // Reject: verify answers 403 approval_rejected; deciding again 409.
            let second = f.authorization(buyer, amount: 600, validFor: 3_600)
            let id2 = try #require(try await s.verify(second)["approvalId"] as? String)
            #expect(try await s.op(.post, "/approvals/\(id2)/reject")["status"] as? String == "rejected")
            expectError(try await s.verify(second), 403, "approval_rejected")
            expectError(try await s.op(.post, "/approvals/\(id2)/approve"), 409, "already_rejected")
            // Expiry: verify answers 410 approval_expired; deciding 409 approval_expired.
            let third = f.authorization(buyer, amount: 700, validFor: 3_600)
            let id3 = try #require(try await s.verify(third)["approvalId"] as? String)
            f.clock.advance(seconds: 301)
            #expect(try await s.op(.get, "/approvals?status=expired")["approvals"].map { ($0 as? [[String: Any]] ?? []).map { $0["id"] as? String } } == [id3])
            expectError(try await s.op(.post, "/approvals/\(id3)/approve"), 409, "approval_expired")
            expectError(try await s.verify(third), 410, "approval_expired")
            let balance = try await s.send(.get, "/balance/\(buyer.address.raw)")
            #expect(balance["held"] as? String == "0" && balance["available"] as? String == "9500")
        }
    }

    @Test(arguments: LedgerEngine.allCases) func batchAnswersEachItemAsVerifyWould(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let f = s.fixture
            let buyer = Buyer(index: 4)
            _ = try await s.deposit(buyer, "1000")
            let good = f.authorization(buyer, amount: 10)
            var forged = f.authorization(buyer, amount: 1); forged.amount = "3"
            let body = try String(decoding: JSONEncoder().encode(["authorizations": [good, forged, f.authorization(buyer, amount: 5_000), good]]), as: UTF8.self)
            let spliced = body.replacingOccurrences(of: #""authorizations":["#, with: #""authorizations":[{"from":42},"#)
            let answer = try await s.send(.post, "/verify/batch", body: spliced)
            #expect(answer.status == 200)
            let results = try #require(answer["results"] as? [[String: Any]])
            #expect(results.map { $0["status"] as? Int } == [400, 200, 401, 402, 200])
            let bodies = results.map { $0["body"] as? [String: Any] ?? [:] }
            #expect(bodies[0]["error"] as? String == "invalid_request")
            #expect(bodies[1]["replayed"] as? Bool == false)
            #expect(bodies[4]["replayed"] as? Bool == true)
            #expect(bodies[1]["confirmationId"] as? String == bodies[4]["confirmationId"] as? String)
            // A malformed item gets the message /verify gives for the same body.
            let alone = try await s.send(.post, "/verify", body: #"{"from":42}"#)
            #expect(bodies[0]["message"] as? String == alone["message"] as? String, "\(bodies[0]) vs \(alone.text)")
            let notArray = try await s.send(.post, "/verify/batch", body: #"{"authorizations":5}"#)
            expectError(notArray, 400, "invalid_request")
            #expect(notArray["message"] as? String == "missing field authorizations (an array)")
            let notObject = try await s.send(.post, "/verify/batch", body: "[1]")
            #expect(notObject["message"] as? String == #"body must be {"authorizations": [...]}"#)
            expectError(try await s.send(.post, "/verify/batch", body: #"{"authorizations":[]}"#), 400, "invalid_request")
            let tooMany = "{\"authorizations\":[" + Array(repeating: "{}", count: 257).joined(separator: ",") + "]}"
            expectError(try await s.send(.post, "/verify/batch", body: tooMany), 400, "invalid_request")
        }
    }

    /// A full batch: receipts are signed on every core after the commit; each must verify.
    @Test(arguments: LedgerEngine.allCases) func aFullBatchHasAValidReceiptForEveryItem(engine: LedgerEngine) async throws {
        try await withLiveServer(engine: engine) { s in
            let f = s.fixture
            let buyers = (0..<8).map { Buyer(index: 40 + $0) }
            for b in buyers { _ = try await s.deposit(b, "1000000") }
            let auths = (0..<256).map { f.authorization(buyers[$0 % 8], amount: 1) }
            let answer = try await s.send(.post, "/verify/batch", json: ["authorizations": auths])
            let results = try #require(answer["results"] as? [[String: Any]])
            #expect(results.count == 256)
            for (auth, r) in zip(auths, results) {
                #expect(r["status"] as? Int == 200)
                let body = r["body"] as? [String: Any] ?? [:]
                let receipt = try JSONDecoder().decode(Receipt.self, from: JSONSerialization.data(withJSONObject: body["receipt"] as Any))
                #expect(receipt.nonce == auth.nonce && receipt.verify(pinnedEnclaveKey: f.enclave.publicKey))
            }
        }
    }
}

extension VerifyContractTests {
    /// The hand-written success body says exactly what the sorted JSONEncoder says.
    @Test func successBodyMatchesTheEncoder() throws {
        let receipt = Receipt(confirmationId: String(repeating: "ab", count: 16), from: "0:" + String(repeating: "11", count: 32),
                              to: "0:" + String(repeating: "22", count: 32), amount: 5, nonce: String(repeating: "33", count: 32),
                              validBefore: 9, remainingBalance: 7, confirmedAt: 8, authorizationDigest: String(repeating: "44", count: 32),
                              network: "tvm:-239", asset: "USDT", enclavePublicKey: String(repeating: "55", count: 32),
                              signature: String(repeating: "66", count: 64))
        for (replayed, remaining) in [(false, Amount(7)), (true, Amount(UInt128(UInt64.max) + 1))] {
            let body = VerifySuccessBody(confirmationId: receipt.confirmationId, remainingBalance: remaining, replayed: replayed, receipt: receipt)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            #expect(body.json == Array(try encoder.encode(body)))
        }
    }
}
