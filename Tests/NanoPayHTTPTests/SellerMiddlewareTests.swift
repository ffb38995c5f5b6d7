import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
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

    /// Attack: a receipt for the right authorization, but for another route's payee, amount,
    /// network or asset, or with a forged field, is refused field by field.
    @Test func aReceiptMustMatchThePresentedAuthorizationFieldByField() async throws {
        let f = try Fixture(); defer { f.close() }
        let buyer = Buyer(index: 46)
        _ = try await f.ledger.deposit(address: buyer.address, amount: 5000, publicKey: buyer.keys.publicKey, reference: "d")
        let offer = X402.PaymentRequirements(network: "tvm:-239", asset: "USDT", amount: "1000", payTo: sellerAddress().raw)
        let fields = f.authorization(buyer, to: sellerAddress(), amount: 1000, version: .v2)
        guard case .settled(let receipt, _) = try await f.service.verify(fields) else { Issue.record("not settled"); return }
        let trusted = TrustedService(enclaveKey: f.enclave.publicKey, network: "tvm:-239", asset: "USDT")
        let check = ReceiptCheck()
        #expect(check.verify(receipt, for: fields, offer: offer, trusted: trusted, nowSeconds: f.nowSeconds) == nil)
        var otherOffer = offer; otherOffer.payTo = sellerAddress(3).raw
        #expect(check.verify(receipt, for: fields, offer: otherOffer, trusted: trusted, nowSeconds: f.nowSeconds)?.code == "invalid_receipt")
        var pricier = offer; pricier.amount = "2000"
        #expect(check.verify(receipt, for: fields, offer: pricier, trusted: trusted, nowSeconds: f.nowSeconds)?.code == "invalid_receipt")
        var otherNetwork = trusted; otherNetwork.network = "tvm:-3"
        #expect(check.verify(receipt, for: fields, offer: offer, trusted: otherNetwork, nowSeconds: f.nowSeconds)?.code == "invalid_receipt")
        var otherAsset = trusted; otherAsset.asset = "TON"
        #expect(check.verify(receipt, for: fields, offer: offer, trusted: otherAsset, nowSeconds: f.nowSeconds)?.code == "invalid_receipt")
        var otherValidBefore = fields; otherValidBefore.validBefore += 1
        #expect(check.verify(receipt, for: otherValidBefore, offer: offer, trusted: trusted, nowSeconds: f.nowSeconds)?.code == "invalid_receipt")
        var otherNonce = fields; otherNonce.nonce = String(repeating: "ab", count: 32)
        #expect(check.verify(receipt, for: otherNonce, offer: offer, trusted: trusted, nowSeconds: f.nowSeconds)?.code == "invalid_receipt")
        // The digest is computed here: a v2 authorization checked as if for another service differs.
        var otherService = trusted; otherService.enclaveKey = Ed25519KeyPair.generate().publicKey
        #expect(check.verify(receipt, for: fields, offer: offer, trusted: otherService, nowSeconds: f.nowSeconds)?.code == "invalid_receipt")
        // Each field on its own: a receipt the enclave did sign, but with one field that differs
        // from the authorization (a faulty or compromised service path), is refused.
        func resigned(_ change: (inout Receipt) -> Void) throws -> Receipt {
            var r = receipt; change(&r)
            r.signature = Hex.encode(f.enclave.sign(receiptBytes: try #require(r.signingBytes())))
            return r
        }
        let mutants: [(String, Receipt)] = [
            ("nonce", try resigned { $0.nonce = String(repeating: "cd", count: 32) }),
            ("validBefore", try resigned { $0.validBefore += 1 }),
            ("from", try resigned { $0.from = Buyer(index: 99).address.raw }),
            ("to", try resigned { $0.to = sellerAddress(3).raw }),
            ("amount", try resigned { $0.amount = Amount(999) }),
            ("digest", try resigned { $0.authorizationDigest = String(repeating: "ef", count: 32) }),
            ("network", try resigned { $0.network = "tvm:-3" }),
            ("asset", try resigned { $0.asset = "TON" }),
        ]
        for (name, mutant) in mutants {
            #expect(mutant.verify(pinnedEnclaveKey: f.enclave.publicKey), "\(name) mutant is validly signed")
            #expect(check.verify(mutant, for: fields, offer: offer, trusted: trusted, nowSeconds: f.nowSeconds)?.code == "invalid_receipt", "\(name)")
        }
        // Freshness by the signed confirmedAt, both ways.
        #expect(check.verify(receipt, for: fields, offer: offer, trusted: trusted, nowSeconds: f.nowSeconds + 61)?.code == "stale_receipt")
        #expect(check.verify(receipt, for: fields, offer: offer, trusted: trusted, nowSeconds: f.nowSeconds - 61)?.code == "stale_receipt")
        #expect(check.verify(receipt, for: fields, offer: offer, trusted: trusted, nowSeconds: f.nowSeconds + 60) == nil)
        // Served once per (payer, nonce), whatever the service path says about `replayed`.
        #expect(check.accept(receipt, for: fields, offer: offer, trusted: trusted, nowSeconds: f.nowSeconds) == nil)
        #expect(check.accept(receipt, for: fields, offer: offer, trusted: trusted, nowSeconds: f.nowSeconds)?.code == "replayed")
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

    @Test func seenPaymentsAreBoundedAndNeverLetAReplayThrough() {
        let seen = SeenPayments(capacity: 2)
        #expect(seen.claim(payer: "a", nonce: "1", validBefore: 1_000, confirmedAt: 100, freshnessWindowSeconds: 60, nowSeconds: 100) == .claimed)
        #expect(seen.claim(payer: "a", nonce: "2", validBefore: 1_000, confirmedAt: 100, freshnessWindowSeconds: 60, nowSeconds: 100) == .claimed)
        #expect(seen.claim(payer: "a", nonce: "1", validBefore: 1_000, confirmedAt: 100, freshnessWindowSeconds: 60, nowSeconds: 100) == .alreadySeen)
        // Full of fresh entries: refuse rather than forget one.
        #expect(seen.claim(payer: "a", nonce: "3", validBefore: 1_000, confirmedAt: 100, freshnessWindowSeconds: 60, nowSeconds: 100) == .full)
        // Once the old receipts are past the freshness window, their entries can go.
        #expect(seen.claim(payer: "a", nonce: "3", validBefore: 1_000, confirmedAt: 200, freshnessWindowSeconds: 60, nowSeconds: 200) == .claimed)
        #expect(seen.count == 1)
    }

    /// The buyer signs v2 whenever it knows the service key, and never downgrades silently.
    @Test func buyersSignV2WheneverTheyKnowTheServiceKey() throws {
        let buyer = Buyer(index: 49)
        let serviceKey = Ed25519KeyPair.generate().publicKey
        let wallet = BuyerWallet(keys: buyer.keys, address: buyer.address)
        var offer = X402.PaymentRequirements(network: "tvm:-239", asset: "USDT", amount: "10", payTo: sellerAddress().raw)
        // Pinned key, offer silent: v2 under the pinned key.
        let pinned = try X402Buyer(wallet: wallet, maxAmountPerPayment: 10, enclaveKey: serviceKey).authorize(offer, nowSeconds: 1_000)
        #expect(pinned.version == 2)
        // Offer names the key: v2.
        offer.extra = ["enclavePublicKey": .string(Hex.encode(serviceKey))]
        #expect(try X402Buyer(wallet: wallet, maxAmountPerPayment: 10).authorize(offer, nowSeconds: 1_000).version == 2)
        // A malformed key in the offer is refused, not a reason to fall back to v1.
        offer.extra = ["enclavePublicKey": .string("zz")]
        #expect(throws: X402Buyer.Refusal.self) { _ = try X402Buyer(wallet: wallet, maxAmountPerPayment: 10).authorize(offer, nowSeconds: 1_000) }
        offer.extra = ["enclavePublicKey": .number(1)]
        #expect(throws: X402Buyer.Refusal.self) { _ = try X402Buyer(wallet: wallet, maxAmountPerPayment: 10).authorize(offer, nowSeconds: 1_000) }
        // No key known: v1, basechain only.
        offer.extra = nil
        #expect(try X402Buyer(wallet: wallet, maxAmountPerPayment: 10).authorize(offer, nowSeconds: 1_000).version == nil)
        offer.payTo = "-1:" + String(repeating: "5e", count: 32)
        #expect(throws: X402Buyer.Refusal.self) { _ = try X402Buyer(wallet: wallet, maxAmountPerPayment: 10).authorize(offer, nowSeconds: 1_000) }
    }
}
