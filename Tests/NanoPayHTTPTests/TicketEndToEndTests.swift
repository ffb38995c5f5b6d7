import Foundation
import NanoPayClient
import NanoPayCore
import NanoPayTestSupport
import Testing

/// Ticket mode end to end: nanopayd and the example seller as processes, the Swift buyer and the
/// CLI as clients. Pay once, call the seller directly within the lifetime, 402 after expiry;
/// nanopayd sees one payment.
@Suite struct TicketEndToEndTests {
    @Test func payOnceCallDirectlyThenPayAgainAfterExpiry() async throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let daemon = try await DaemonProcessTests.start(dataDir: dir.path + "/data", environment: [
            "NANOPAY_PLATFORM_SECRET": DaemonProcessTests.secretHex, "NANOPAY_OPERATOR_TOKEN": "t"])
        defer { daemon.process.terminate(); daemon.process.waitUntilExit() }
        let service = ServiceClient(baseURL: daemon.url, operatorToken: "t")
        let buyer = Buyer(index: 120)
        let deposit = #"{"address":"\#(buyer.address.raw)","amount":"10000","publicKey":"\#(Hex.encode(buyer.keys.publicKey))","reference":"t1"}"#
        #expect(try await service.send(.POST, "/deposits", json: Data(deposit.utf8)).status == 200)
        let root = try String(contentsOfFile: dir.path + "/data/enclave/platform-root.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let (seller, sellerURL) = try await ExampleSellerProcess.start(serviceURL: daemon.url, payTo: sellerAddress().raw, root: root,
                                                                       logPath: dir.path + "/seller.log",
                                                                       extraArguments: ["--ticket-lifetime-seconds", "5"])
        defer { seller.terminate(); seller.waitUntilExit() }
        let health = try await service.send(.GET, "/health").decode([String: String].self)
        let enclaveKey = try #require(Hex.decode(health["enclavePublicKey"] ?? "", byteCount: 32))
        let client = X402Buyer(wallet: BuyerWallet(keys: buyer.keys, address: buyer.address), maxAmountPerPayment: 5000, enclaveKey: enclaveKey)

        let first = try await client.get(sellerURL + "/api/report/monday")
        #expect(first.status == 200 && first.ticketBought && first.receiptVerified, "\(String(decoding: first.body, as: UTF8.self))")
        for day in ["tuesday", "wednesday", "thursday"] {
            let again = try await client.get(sellerURL + "/api/report/\(day)")
            #expect(again.status == 200 && !again.ticketBought && again.ticket == first.ticket)
        }
        let balance = { try await service.send(.GET, "/balance/\(buyer.address.raw)").decode([String: String].self) }
        #expect(try await balance()["available"] == "8000", "one payment of 2000 for four calls")
        let stats = try await service.send(.GET, "/stats").decode(Stats.self)
        #expect(stats.payments["settled"] == 1)

        // The ticket verifies with the CLI under the attested ticket key.
        let quote = try await service.attest(nonce: Sodium.randomBytes(32), policy: .init(pinnedRoot: root, expectedNonce: nil, allowSoftware: true,
                                                                                        now: UInt64(Date().timeIntervalSince1970))).1
        let decoded = try runProcess(TestBinaries.path("nanopay"), ["ticket", "decode", try #require(first.ticket),
                                                                                        "--ticket-key", Hex.encode(quote.ticketPublicKey),
                                                                                        "--enclave-key", Hex.encode(enclaveKey)])
        #expect(decoded.status == 0 && decoded.output.contains("signature: valid") && decoded.output.contains("paid:    2000 USDT"), "\(decoded.output)")

        // After expiry (5 s + the seller's 5 s leeway) the seller answers 402 to the old ticket.
        try await Task.sleep(for: .seconds(11))
        // (ServiceClient sends its token as `Authorization: Bearer`, which is how a ticket travels.)
        let stale = try await ServiceClient(baseURL: sellerURL, operatorToken: try #require(first.ticket)).send(.GET, "/api/report/friday")
        #expect(stale.status == 402 && stale.text.contains("ticket_expired"), "\(stale.text)")
        // The buyer pays again, once.
        let later = try await client.get(sellerURL + "/api/report/friday")
        #expect(later.status == 200 && later.ticketBought && later.ticket != first.ticket)
        #expect(try await balance()["available"] == "6000")
    }

    struct Stats: Decodable { var payments: [String: Int] }
}
