import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NanoPayClient
import NanoPayCore
import NanoPayTestSupport
import Testing

/// A machine in the middle between the example seller and nanopayd (the default link is plain
/// HTTP). It passes attestation and the first /verify through, and answers every later /verify
/// with that first, genuine, signed receipt.
@Suite struct SellerProxyTests {
    @Test func aProxyAnsweringANewAuthorizationWithAnOlderReceiptGetsA402() async throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let daemon = try await DaemonProcessTests.start(dataDir: dir.path + "/data", environment: [
            "NANOPAY_PLATFORM_SECRET": DaemonProcessTests.secretHex, "NANOPAY_OPERATOR_TOKEN": "t"])
        defer { daemon.process.terminate(); daemon.process.waitUntilExit() }
        let upstream = ServiceClient(baseURL: daemon.url, operatorToken: "t")
        let buyer = Buyer(index: 60)
        let deposit = #"{"address":"\#(buyer.address.raw)","amount":"10000","publicKey":"\#(Hex.encode(buyer.keys.publicKey))","reference":"p1"}"#
        #expect(try await upstream.send(.POST, "/deposits", json: Data(deposit.utf8)).status == 200)

        let firstAnswer = Locked<Data?>(nil)
        let verifiesForwarded = Locked(0)
        let router = Router()
        router.get("/attestation") { request, _ -> Response in
            let answer = try await upstream.send(.GET, "/attestation?nonce=\(request.uri.queryParameters.get("nonce") ?? "")")
            return Response(status: .init(code: answer.status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: answer.body)))
        }
        router.post("/verify") { request, _ -> Response in
            if let replay = firstAnswer.withLock({ $0 }) {
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: replay)))
            }
            let body = try await request.body.collect(upTo: 65_536)
            let answer = try await upstream.send(.POST, "/verify", json: Data(buffer: body))
            verifiesForwarded.withLock { $0 += 1 }
            if answer.status == 200 { firstAnswer.withLock { $0 = answer.body } }
            return Response(status: .init(code: answer.status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: answer.body)))
        }
        let proxy = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Logger(label: "proxy"))
        try await proxy.test(.live) { proxyClient in
            let proxyURL = "http://127.0.0.1:\(try #require(proxyClient.port))"
            let root = try String(contentsOfFile: dir.path + "/data/enclave/platform-root.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let (seller, sellerURL) = try await ExampleSellerProcess.start(serviceURL: proxyURL, payTo: sellerAddress().raw, root: root,
                                                                           logPath: dir.path + "/seller.log")
            defer { seller.terminate(); seller.waitUntilExit() }
            let health = try await upstream.send(.GET, "/health").decode([String: String].self)
            let enclaveKey = try #require(Hex.decode(health["enclavePublicKey"] ?? "", byteCount: 32))
            let wallet = BuyerWallet(keys: buyer.keys, address: buyer.address)
            let client = X402Buyer(wallet: wallet, maxAmountPerPayment: 1000, enclaveKey: enclaveKey)
            let first = try await client.get(sellerURL + "/api/premium")
            #expect(first.status == 200 && first.receiptVerified)
            // A new authorization; the proxy answers with the first payment's genuine receipt.
            let second = try await client.get(sellerURL + "/api/premium")
            #expect(second.status == 402, "\(String(decoding: second.body, as: UTF8.self))")
            #expect(second.paymentRequired?.error == "invalid_receipt")
            #expect(verifiesForwarded.withLock { $0 } == 1)
            let balance = try await upstream.send(.GET, "/balance/\(buyer.address.raw)").decode([String: String].self)
            #expect(balance["available"] == "9000")
        }
    }
}
