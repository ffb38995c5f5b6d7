import Foundation
import NanoPayCore
import Testing

/// The hand-written receipt JSON must say exactly what Foundation's encoder says.
@Suite struct ReceiptJSONTests {
    static func receipt(network: String = "tvm:-239", asset: String = "USDT") -> Receipt {
        Receipt(confirmationId: String(repeating: "ab", count: 16), from: "0:" + String(repeating: "11", count: 32),
                to: "-1:" + String(repeating: "22", count: 32), amount: Amount(UInt128.max), nonce: String(repeating: "33", count: 32),
                validBefore: UInt64.max, remainingBalance: 0, confirmedAt: 1_795_000_000,
                authorizationDigest: String(repeating: "44", count: 32), network: network, asset: asset,
                enclavePublicKey: String(repeating: "55", count: 32), signature: String(repeating: "66", count: 64))
    }

    @Test func matchesFoundationsSortedEncoding() throws {
        let r = Self.receipt()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(r.canonicalJSON() == String(decoding: try encoder.encode(r), as: UTF8.self))
    }

    @Test(arguments: ["quote\"d", "back\\slash", "new\nline\ttab", "\u{01}ctl\u{1f}", "ünïcødé 💸", "/slash/", "\u{08}\u{0c}\r\u{7f}", ""])
    func oddStringsRoundTrip(_ text: String) throws {
        let r = Self.receipt(network: text, asset: text)
        let back = try JSONDecoder().decode(Receipt.self, from: Data(r.canonicalJSON().utf8))
        #expect(back == r)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(r.canonicalJSON() == String(decoding: try encoder.encode(r), as: UTF8.self))
    }
}
