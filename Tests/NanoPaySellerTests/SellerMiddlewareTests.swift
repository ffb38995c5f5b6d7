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

/// Counts how often the seller called the service.
final class CountingVerifier: PaymentVerifier {
    let service: PaymentService
    let calls = Locked(0)
    init(service: PaymentService) { self.service = service }
    func verify(_ authorization: AuthorizationFields) async throws -> VerifierAnswer {
        calls.withLock { $0 += 1 }
        do {
            switch try await service.verify(authorization) {
            case .settled(let r, let replayed): return .paid(receipt: r, replayed: replayed)
            case .held(let id, let exp): return .held(approvalId: id, expiresAtSeconds: exp / 1000)
            }
        } catch { let e = NanoPayError.wrap(error); return .refused(code: e.code.rawValue, message: e.message) }
    }
}

/// A seller app embedding CyberNanoPay in-process, with two offers on one route (two payees).
/// `verifier` replaces the honest in-process path (to play a lying service path); the seller's
/// clock is the fixture's, shifted by `sellerClockOffsetSeconds`.
func withSeller(_ body: @Sendable (any TestClientProtocol, Fixture, CountingVerifier, [X402.PaymentRequirements]) async throws -> Void,
                enclaveKey: [UInt8]? = nil, verifier makeVerifier: (@Sendable (CountingVerifier) -> any PaymentVerifier)? = nil,
                sellerClockOffsetSeconds: Int64 = 0) async throws {
    let f = try Fixture(); defer { f.close() }
    let verifier = CountingVerifier(service: f.service)
    let key = f.enclave.publicKey
    let offers = [
        X402.PaymentRequirements(network: "tvm:-239", asset: "USDT", amount: "1000", payTo: sellerAddress().raw,
                                 extra: ["enclavePublicKey": .string(Hex.encode(key))]),
        X402.PaymentRequirements(network: "tvm:-239", asset: "USDT", amount: "1000", payTo: sellerAddress(3).raw),
    ]
    let sellerClock = ManualClock(milliseconds: UInt64(Int64(Fixture.startMilliseconds) + sellerClockOffsetSeconds * 1000))
    let trust = FixedTrust(TrustedService(enclaveKey: enclaveKey ?? key, network: "tvm:-239", asset: "USDT"))
    let router = Router(context: NanoPayRequestContext.self)
    router.group().add(middleware: try RequirePaymentMiddleware<NanoPayRequestContext>(offers: offers, verifier: makeVerifier?(verifier) ?? verifier,
                                                                                       trust: trust, clock: sellerClock))
        .get("/premium") { _, context -> String in "paid by \(context.payment!.payer) confirmation \(context.payment!.confirmationId)" }
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Logger(label: "seller"))
    try await app.test(.live) { client in try await body(client, f, verifier, offers) }
}

@Suite struct SellerMiddlewareTests {
    static let signatureHeader = HTTPField.Name(X402.paymentSignatureHeader)!
    static let requiredHeader = HTTPField.Name(X402.paymentRequiredHeader)!
    static let responseHeader = HTTPField.Name(X402.paymentResponseHeader)!

    func pay(_ client: any TestClientProtocol, _ header: String?) async throws -> TestResponse {
        var h: HTTPFields = [:]
        if let header { h[Self.signatureHeader] = header }
        return try await client.execute(uri: "/premium", method: .get, headers: h)
    }

    func header(_ f: Fixture, _ buyer: Buyer, offer: X402.PaymentRequirements, amount: UInt128 = 1000, to: TONAddress = sellerAddress()) -> String {
        X402.encodeHeader(X402.PaymentPayload(accepted: offer, authorization: f.authorization(buyer, to: to, amount: amount, version: .v2)))
    }

    @Test func unpaidAndMismatchedRequestsGet402WithoutCallingTheService() async throws {
        try await withSeller { client, f, verifier, offers in
            let buyer = Buyer(index: 40)
            _ = try await f.ledger.deposit(address: buyer.address, amount: 5000, publicKey: buyer.keys.publicKey, reference: "d")
            let unpaid = try await pay(client, nil)
            #expect(unpaid.status.code == 402)
            let required = try X402.decodeHeader(X402.PaymentRequired.self, from: try #require(unpaid.headers[Self.requiredHeader]))
            #expect(required.accepts == offers && required.x402Version == 2 && required.resource?.url.hasSuffix("/premium") == true)
            #expect(try await pay(client, "not base64 !!").status.code == 402)
            var cheaper = offers[0]; cheaper.amount = "1"
            #expect(try await pay(client, header(f, buyer, offer: cheaper, amount: 1)).status.code == 402)
            var elsewhere = offers[0]; elsewhere.payTo = sellerAddress(7).raw
            #expect(try await pay(client, header(f, buyer, offer: elsewhere, to: sellerAddress(7))).status.code == 402)
            var otherAsset = offers[0]; otherAsset.asset = "TON"
            #expect(try await pay(client, header(f, buyer, offer: otherAsset)).status.code == 402)
            // The echoed offer matches but the authorization pays less: refused before the service too.
            #expect(try await pay(client, header(f, buyer, offer: offers[0], amount: 999)).status.code == 402)
            #expect(verifier.calls.withLock { $0 } == 0)
            #expect(try await f.ledger.balance(buyer.address).available == 5000)
        }
    }

    @Test func paidRequestsReachTheHandlerOnceAndReplaysAreRefused() async throws {
        try await withSeller { client, f, verifier, offers in
            let buyer = Buyer(index: 41)
            _ = try await f.ledger.deposit(address: buyer.address, amount: 5000, publicKey: buyer.keys.publicKey, reference: "d")
            let paid = header(f, buyer, offer: offers[0])
            let ok = try await pay(client, paid)
            #expect(ok.status == .ok && String(buffer: ok.body).contains("paid by \(buyer.address.raw)"))
            let settle = try X402.decodeHeader(X402.SettleResponse.self, from: try #require(ok.headers[Self.responseHeader]))
            let receipt = try #require(settle.extra?["receipt"].flatMap { Receipt(jsonValue: $0) })
            #expect(settle.success && settle.transaction == receipt.confirmationId && receipt.verify(pinnedEnclaveKey: f.enclave.publicKey))
            // The captured header cannot be used again.
            let replay = try await pay(client, paid)
            #expect(replay.status.code == 402)
            #expect(try X402.decodeHeader(X402.PaymentRequired.self, from: try #require(replay.headers[Self.requiredHeader])).error == "replayed")
            #expect(try await f.ledger.balance(buyer.address).available == 4000)
            #expect(verifier.calls.withLock { $0 } == 2)
        }
    }

    @Test func heldPaymentsAnswerApprovalRequired() async throws {
        try await withSeller { client, f, _, offers in
            let buyer = Buyer(index: 42)
            _ = try await f.ledger.deposit(address: buyer.address, amount: 5000, publicKey: buyer.keys.publicKey, reference: "d")
            _ = try await f.ledger.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(10)), authority: .operator("t"))
            let held = try await pay(client, header(f, buyer, offer: offers[0]))
            #expect(held.status.code == 402)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(buffer: held.body)) as? [String: Any])
            #expect(body["error"] as? String == "approval_required" && (body["approvalId"] as? String)?.hasPrefix("apr_") == true)
        }
    }

    @Test func receiptsNotSignedByThePinnedKeyAreRefused() async throws {
        try await withSeller({ client, f, _, offers in
            let buyer = Buyer(index: 43)
            _ = try await f.ledger.deposit(address: buyer.address, amount: 5000, publicKey: buyer.keys.publicKey, reference: "d")
            let answer = try await pay(client, header(f, buyer, offer: offers[0]))
            #expect(answer.status.code == 402)
            #expect(try X402.decodeHeader(X402.PaymentRequired.self, from: try #require(answer.headers[Self.requiredHeader])).error == "invalid_receipt")
        }, enclaveKey: Ed25519KeyPair.generate().publicKey)
    }

    @Test func buyerClientPaysOnceAndVerifiesTheReceipt() async throws {
        try await withSeller { client, f, _, _ in
            let buyer = Buyer(index: 44)
            _ = try await f.ledger.deposit(address: buyer.address, amount: 5000, publicKey: buyer.keys.publicKey, reference: "d")
            let url = "http://127.0.0.1:\(try #require(client.port))/premium"
            let wallet = BuyerWallet(keys: buyer.keys, address: buyer.address)
            let result = try await X402Buyer(wallet: wallet, maxAmountPerPayment: 1000, enclaveKey: f.enclave.publicKey, clock: f.clock).get(url)
            #expect(result.status == 200 && result.receiptVerified && result.receiptTrust == .pinned)
            #expect(result.paid?.network == "tvm:-239") // the first offer it supports
            await #expect(throws: X402Buyer.Refusal.self) { _ = try await X402Buyer(wallet: wallet, maxAmountPerPayment: 999).get(url) }
            // A buyer pinned to another service key refuses to sign for this offer: it never
            // downgrades to v1 or signs for a key it does not trust.
            await #expect(throws: X402Buyer.Refusal.self) {
                _ = try await X402Buyer(wallet: wallet, maxAmountPerPayment: 1000, enclaveKey: Ed25519KeyPair.generate().publicKey).get(url)
            }
            #expect(try await f.ledger.balance(buyer.address).available == 4000)
        }
    }

    /// Attack: the service path answers a new authorization with an older genuine receipt (of
    /// another payment by the same buyer). The seller must not serve.
    @Test func anOlderGenuineReceiptDoesNotPayForANewAuthorization() async throws {
        let recorded = Locked<Receipt?>(nil)
        try await withSeller({ client, f, verifier, offers in
            let buyer = Buyer(index: 45)
            _ = try await f.ledger.deposit(address: buyer.address, amount: 5000, publicKey: buyer.keys.publicKey, reference: "d")
            #expect(try await pay(client, header(f, buyer, offer: offers[0])).status == .ok)
            let second = try await pay(client, header(f, buyer, offer: offers[0]))
            #expect(second.status.code == 402)
            #expect(try X402.decodeHeader(X402.PaymentRequired.self, from: try #require(second.headers[Self.requiredHeader])).error == "invalid_receipt")
            #expect(verifier.calls.withLock { $0 } == 1)
        }, verifier: { honest in
            ClosureVerifier { fields in
                if let old = recorded.withLock({ $0 }) { return .paid(receipt: old, replayed: false) }
                let answer = try await honest.verify(fields)
                if case .paid(let r, _) = answer { recorded.withLock { $0 = r } }
                return answer
            }
        })
    }

    /// `replayed` is unsigned: a service path that says `replayed: false` on a repeat does not
    /// get the payment served twice, and one that says `replayed: true` on a first use is not
    /// believed either.
    @Test func theUnsignedReplayedFlagIsOnlyAHint() async throws {
        try await withSeller({ client, f, _, offers in
            let buyer = Buyer(index: 47)
            _ = try await f.ledger.deposit(address: buyer.address, amount: 5000, publicKey: buyer.keys.publicKey, reference: "d")
            let h = header(f, buyer, offer: offers[0])
            #expect(try await pay(client, h).status == .ok, "a first use is served even if flagged replayed")
            let again = try await pay(client, h)
            #expect(again.status.code == 402)
            #expect(try X402.decodeHeader(X402.PaymentRequired.self, from: try #require(again.headers[Self.requiredHeader])).error == "replayed")
        }, verifier: { honest in
            ClosureVerifier { fields in
                let answer = try await honest.verify(fields)
                if case .paid(let r, let replayed) = answer { return .paid(receipt: r, replayed: !replayed) }
                return answer
            }
        })
    }

    /// A receipt signed too long ago (by the seller's clock) is refused: a stored receipt
    /// cannot be presented later.
    @Test func staleReceiptsAreRefused() async throws {
        try await withSeller({ client, f, _, offers in
            let buyer = Buyer(index: 48)
            _ = try await f.ledger.deposit(address: buyer.address, amount: 5000, publicKey: buyer.keys.publicKey, reference: "d")
            let answer = try await pay(client, header(f, buyer, offer: offers[0]))
            #expect(answer.status.code == 402)
            #expect(try X402.decodeHeader(X402.PaymentRequired.self, from: try #require(answer.headers[Self.requiredHeader])).error == "stale_receipt")
        }, sellerClockOffsetSeconds: 120)
    }

    @Test func offersTheServiceDoesNotSettleAreRefusedAtSetUp() throws {
        let trust = FixedTrust(TrustedService(enclaveKey: Ed25519KeyPair.generate().publicKey, network: "tvm:-239", asset: "USDT"))
        let verifier = ClosureVerifier { _ in .refused(code: "x", message: "") }
        for offer in [X402.PaymentRequirements(network: "tvm:-3", asset: "USDT", amount: "1000", payTo: sellerAddress().raw),
                      X402.PaymentRequirements(network: "tvm:-239", asset: "TON", amount: "1000", payTo: sellerAddress().raw),
                      X402.PaymentRequirements(network: "tvm:-239", asset: "USDT", amount: "01000", payTo: sellerAddress().raw),
                      X402.PaymentRequirements(network: "tvm:-239", asset: "USDT", amount: "1000", payTo: "nowhere")] {
            #expect(throws: SellerConfigurationError.self) {
                _ = try RequirePaymentMiddleware<NanoPayRequestContext>(offers: [offer], verifier: verifier, trust: trust)
            }
        }
    }

}
