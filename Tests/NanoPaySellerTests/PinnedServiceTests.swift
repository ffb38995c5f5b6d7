import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NanoPayClient
import NanoPayCore
import NanoPaySeller
import NanoPayTestSupport
import Testing

/// A seller keeps attesting the service it pinned. When attestation fails it stops accepting
/// payments until the same key attests again; when another key answers it stops for good.
@Suite struct PinnedServiceTests {
    enum Mode: Sendable { case first, second, down }

    @Test func reattestationSuspendsOnFailureAndForGoodOnAKeyChange() async throws {
        let a = try Fixture(), b = try Fixture()
        defer { a.close(); b.close() }
        #expect(a.enclave.publicKey != b.enclave.publicKey && a.enclave.attestation.rootPublicKey == b.enclave.attestation.rootPublicKey)
        let mode = Locked(Mode.first)
        let router = Router()
        router.get("/attestation") { request, _ -> Response in
            let fixture: Fixture
            switch mode.withLock({ $0 }) {
            case .first: fixture = a
            case .second: fixture = b
            case .down: return Response(status: .serviceUnavailable)
            }
            let nonce = Hex.decode(request.uri.queryParameters.get("nonce") ?? "") ?? []
            let quote = try fixture.service.quote(nonce: nonce)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: try JSONEncoder().encode(quote))))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Logger(label: "attest"))
        try await app.test(.live) { client in
            let url = "http://127.0.0.1:\(try #require(client.port))"
            let pinned = try await PinnedService.attest(url: url, pinnedRoot: Hex.encode(a.enclave.attestation.rootPublicKey), allowSoftware: true,
                                                        clock: a.clock)
            defer { pinned.stop() }
            #expect(pinned.trusted?.enclaveKey == a.enclave.publicKey)

            // The middleware answers 503 and does not call the service while trust is suspended.
            let calls = Locked(0)
            let verifier = ClosureVerifier { _ in calls.withLock { $0 += 1 }; return .refused(code: "x", message: "") }
            let offer = pinned.offer(amount: "1000", payTo: sellerAddress())
            let seller = Router(context: NanoPayRequestContext.self)
            seller.group().add(middleware: try RequirePaymentMiddleware<NanoPayRequestContext>(offers: [offer], verifier: verifier, trust: pinned, clock: a.clock))
                .get("/paid") { _, _ in "served" }
            let sellerApp = Application(router: seller, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Logger(label: "seller"))
            let buyer = Buyer(index: 61)
            let header = X402.encodeHeader(X402.PaymentPayload(accepted: offer, authorization: a.authorization(buyer, amount: 1000, version: .v2)))
            try await sellerApp.test(.live) { sellerClient in
                mode.withLock { $0 = .down }
                await pinned.reattest()
                #expect(pinned.trusted == nil && (pinned.suspendedReason ?? "").contains("re-attestation failed"))
                let refused = try await sellerClient.execute(uri: "/paid", method: .get, headers: [HTTPField.Name(X402.paymentSignatureHeader)!: header])
                #expect(refused.status == .serviceUnavailable && calls.withLock { $0 } == 0)

                mode.withLock { $0 = .first }
                await pinned.reattest()
                #expect(pinned.trusted?.enclaveKey == a.enclave.publicKey, "the same key resumes")
                _ = try await sellerClient.execute(uri: "/paid", method: .get, headers: [HTTPField.Name(X402.paymentSignatureHeader)!: header])
                #expect(calls.withLock { $0 } == 1, "payments are accepted again")

                mode.withLock { $0 = .second }
                await pinned.reattest()
                #expect(pinned.trusted == nil && (pinned.suspendedReason ?? "").contains("not the pinned"))
                mode.withLock { $0 = .first }
                await pinned.reattest()
                #expect(pinned.trusted == nil, "a key change is never resumed from")
            }
        }
    }
}
