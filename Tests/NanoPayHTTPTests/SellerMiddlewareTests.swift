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
            case .held(let id, let exp): return .held(approvalId: id, expiresAt: exp / 1000)
            }
        } catch { let e = NanoPayError.wrap(error); return .refused(code: e.code.rawValue, message: e.message) }
    }
}

/// A seller app embedding CyberNanoPay in-process, with two offers on one route.
func withSeller(_ body: @Sendable (any TestClientProtocol, Fixture, CountingVerifier, [X402.PaymentRequirements]) async throws -> Void,
                enclaveKey: [UInt8]? = nil) async throws {
    let f = try Fixture(); defer { f.close() }
    let verifier = CountingVerifier(service: f.service)
    let key = f.enclave.publicKey
    let offers = [
        X402.PaymentRequirements(network: "tvm:-239", asset: "USDT", amount: "1000", payTo: sellerAddress().raw,
                                 extra: ["enclavePublicKey": .string(Hex.encode(key))]),
        X402.PaymentRequirements(network: "tvm:-3", asset: "USDT", amount: "1000", payTo: sellerAddress().raw),
    ]
    let router = Router(context: NanoPayRequestContext.self)
    router.group().add(middleware: RequirePaymentMiddleware<NanoPayRequestContext>(offers: offers, verifier: verifier, enclaveKey: enclaveKey ?? key))
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
            #expect(try f.ledger.balance(buyer.address).available == 5000)
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
            #expect(try f.ledger.balance(buyer.address).available == 4000)
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
            let body = try JSONSerialization.jsonObject(with: Data(buffer: held.body)) as! [String: Any]
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
            let result = try await X402Buyer(wallet: wallet, maxAmountPerPayment: 1000, enclaveKey: f.enclave.publicKey).get(url)
            #expect(result.status == 200 && result.receiptVerified && result.receiptTrust == .pinned)
            #expect(result.paid?.network == "tvm:-239") // the first offer it supports
            await #expect(throws: X402Buyer.Refusal.self) { _ = try await X402Buyer(wallet: wallet, maxAmountPerPayment: 999).get(url) }
            let wrongKey = try await X402Buyer(wallet: wallet, maxAmountPerPayment: 1000, enclaveKey: Ed25519KeyPair.generate().publicKey).get(url)
            #expect(wrongKey.status == 200 && !wrongKey.receiptVerified)
            #expect(try f.ledger.balance(buyer.address).available == 3000)
        }
    }
}
