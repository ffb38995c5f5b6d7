import Foundation
import NanoPayClient
import NanoPayCore
import NanoPayTestSupport
import Testing

/// The client side on its own: the receipt proof sellers (and the gateway) check, the
/// seen-payments store, and how buyers sign. Real keys, a real ledger and enclave (Fixture).
@Suite struct ReceiptCheckTests {
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
