import Foundation
import NanoPayCore
import Testing

@Suite struct AmountTests {
    @Test(arguments: ["010", "+1", "1.0", "-1", "", " 1", "1 ", "1e3", "0x10", "１", "10_000", "10000\n",
                      "340282366920938463463374607431768211456", "99999999999999999999999999999999999999999"])
    func nonCanonicalAmountsAreRefused(_ text: String) {
        #expect(throws: Amount.ParseError.self) { try Amount(parsing: text) }
    }

    @Test func zeroIsRefusedWherePaymentsNeedAnAmount() throws {
        #expect(try Amount(parsing: "0") == .zero)
        #expect(throws: Amount.ParseError.zeroNotAllowed) { try Amount(parsing: "0", allowZero: false) }
    }

    @Test func edgesParseExactly() throws {
        #expect(try Amount(parsing: "1").value == 1)
        #expect(try Amount(parsing: "18446744073709551616").value == UInt128(1) << 64)
        #expect(try Amount(parsing: "340282366920938463463374607431768211455") == .max)
        #expect(Amount.max.description == "340282366920938463463374607431768211455")
    }

    /// The storage and signed-message encoding, byte for byte, both ways (the ledger reads it in
    /// place from SQLite and binds it without an array).
    @Test func bigEndianBytesAreExact() {
        let a = Amount(UInt128(0x0102_0304_0506_0708) << 64 | 0x090a_0b0c_0d0e_0f10)
        #expect(a.bigEndianBytes == Array(1...16))
        #expect(a.withBigEndianBytes { Array($0) } == Array(1...16))
        #expect(Amount(bigEndianBytes: Array(1...16) as [UInt8]) == a)
        #expect(Amount(bigEndianBytes: [UInt8](repeating: 0xff, count: 16)) == .max)
        #expect(Amount(bigEndianBytes: [UInt8](repeating: 0, count: 15)) == nil)
        #expect(Amount(bigEndianBytes: [UInt8](repeating: 0, count: 17)) == nil)
        #expect(Amount(1).bigEndianBytes == [UInt8](repeating: 0, count: 15) + [1])
    }

    @Test func hexEncodesEveryByteInLowercase() {
        let bytes = (0...255).map { UInt8($0) }
        #expect(Hex.encode(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
        #expect(Hex.decode(Hex.encode(bytes)) == bytes)
    }

    @Test func arithmeticReportsOverflow() {
        #expect(Amount.max.adding(Amount(1)) == nil)
        #expect(Amount.zero.subtracting(Amount(1)) == nil)
        #expect(Amount(5).subtracting(Amount(5)) == .zero)
    }

    @Test func bigEndianRoundTrip() {
        for v: UInt128 in [0, 1, 255, 256, UInt128(1) << 64, .max] {
            #expect(Amount(bigEndianBytes: Amount(v).bigEndianBytes) == Amount(v))
        }
    }
}

@Suite struct TONAddressTests {
    @Test func bothSpellingsMapToOneRawForm() throws {
        let raw = try TONAddress(parsing: "0:" + String(repeating: "AB", count: 32))
        #expect(raw.raw == "0:" + String(repeating: "ab", count: 32))
        for bounceable in [true, false] {
            for urlSafe in [true, false] {
                let friendly = try #require(raw.friendly(bounceable: bounceable, urlSafe: urlSafe))
                #expect(friendly.count == 48)
                #expect(try TONAddress(parsing: friendly) == raw)
            }
        }
        let testnet = try #require(raw.friendly(bounceable: true, testnet: true))
        #expect(try TONAddress(parsing: testnet) == raw)
        let master = TONAddress(workchain: -1, hash: raw.hash)
        #expect(try TONAddress(parsing: master.friendly()!) == master)
        #expect(master.raw.hasPrefix("-1:"))
    }

    @Test func realWalletAddressParses() throws {
        // A real W5R1 wallet address (the c402 demo server's).
        let a = try TONAddress(parsing: "UQC0xYjlVBm1-I6qXH9Idzc7sXlEoO7IPqdmH2HNTVdyu7p9")
        #expect(a.workchain == 0)
        #expect(a.friendly(bounceable: false) == "UQC0xYjlVBm1-I6qXH9Idzc7sXlEoO7IPqdmH2HNTVdyu7p9")
    }

    @Test func checksumAndShapeErrorsAreRefused() throws {
        let good = TONAddress(workchain: 0, hash: [UInt8](repeating: 7, count: 32)).friendly()!
        var chars = Array(good)
        chars[10] = chars[10] == "A" ? "B" : "A"
        #expect(throws: TONAddress.ParseError.self) { try TONAddress(parsing: String(chars)) }
        for bad in ["", "0:", "0:zz", "x:" + String(repeating: "00", count: 32), "00:" + String(repeating: "00", count: 32),
                    "-0:" + String(repeating: "00", count: 32), "0:" + String(repeating: "00", count: 31), "abc", String(good.dropLast()),
                    "0:" + String(repeating: "00", count: 32) + ":", "0::" + String(repeating: "00", count: 32), "+1:" + String(repeating: "00", count: 32),
                    "2147483648:" + String(repeating: "00", count: 32), "-2147483649:" + String(repeating: "00", count: 32),
                    "0:" + String(repeating: "0g", count: 32), "0:" + String(repeating: "00", count: 33)] {
            #expect(throws: TONAddress.ParseError.self) { try TONAddress(parsing: bad) }
        }
    }

    /// Whatever the spelling, `raw` is the canonical form built from the parsed fields.
    @Test func rawIsCanonicalForEverySpelling() throws {
        let hash = (0..<32).map { UInt8(truncatingIfNeeded: $0 * 7 + 0xa0) }
        for wc: Int32 in [0, -1, 7, 2_147_483_647, -2_147_483_648] {
            let canonical = TONAddress(workchain: wc, hash: hash)
            #expect(canonical.raw == "\(wc):" + hash.map { String(format: "%02x", $0) }.joined())
            for spelling in [canonical.raw, canonical.raw.uppercased(), String(wc) + ":" + Hex.encode(hash).uppercased()] {
                let parsed = try TONAddress(parsing: spelling)
                #expect(parsed == canonical)
                #expect(parsed.raw == canonical.raw)
            }
        }
    }
}

@Suite struct X402CodecTests {
    @Test func headersRoundTripAsBase64JSON() throws {
        let req = X402.PaymentRequirements(network: "tvm:-239", asset: "USDT", amount: "1000", payTo: "0:" + String(repeating: "22", count: 32))
        let required = X402.PaymentRequired(resource: .init(url: "http://127.0.0.1/api/premium"), accepts: [req])
        let header = X402.encodeHeader(required)
        let decoded = try X402.decodeHeader(X402.PaymentRequired.self, from: header)
        #expect(decoded == required)
        #expect(decoded.accepts[0].to == decoded.accepts[0].payTo)
        #expect(throws: NanoPayError.self) { try X402.decodeHeader(X402.PaymentRequired.self, from: "%%%") }
        #expect(throws: NanoPayError.self) { try X402.decodeHeader(X402.PaymentRequired.self, from: String(repeating: "A", count: 20_000)) }
    }

    @Test func bothAuthorizationPlacementsDecode() throws {
        let fields = AuthorizationFields(from: "0:" + String(repeating: "11", count: 32), to: "0:" + String(repeating: "22", count: 32),
                                         amount: "5", validBefore: 10, nonce: String(repeating: "33", count: 32), signature: String(repeating: "44", count: 64))
        let standard = X402.PaymentPayload(accepted: nil, authorization: fields)
        let viaHeader = try X402.decodeHeader(X402.PaymentPayload.self, from: X402.encodeHeader(standard))
        #expect(try viaHeader.authorizationFields() == fields)
        let sdkForm = #"{"x402Version":2,"authorization":{"from":"0:1111111111111111111111111111111111111111111111111111111111111111","to":"0:2222222222222222222222222222222222222222222222222222222222222222","amount":"5","validBefore":10,"nonce":"3333333333333333333333333333333333333333333333333333333333333333","signature":"44444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444"}}"#
        let sdk = try X402.decodeHeader(X402.PaymentPayload.self, from: Base64.encode(Array(sdkForm.utf8)))
        #expect(try sdk.authorizationFields() == fields)
    }

    @Test func authorizationFieldErrorsNameTheField() {
        let ok = AuthorizationFields(from: "0:" + String(repeating: "11", count: 32), to: "0:" + String(repeating: "22", count: 32),
                                     amount: "5", validBefore: 10, nonce: String(repeating: "33", count: 32), signature: String(repeating: "44", count: 64))
        var f = ok; f.amount = "05"
        #expect(throws: NanoPayError.self) { try f.validated() }
        f = ok; f.nonce = "33"
        #expect((try? f.validated()) == nil)
        f = ok; f.signature = String(repeating: "4", count: 127)
        #expect((try? f.validated()) == nil)
        f = ok; f.to = f.from
        #expect((try? f.validated()) == nil)
        f = ok; f.version = 3
        do { _ = try f.validated(); Issue.record("expected failure") } catch { #expect(error.code == .unsupportedVersion) }
        #expect((try? ok.validated()) != nil)
    }
}
