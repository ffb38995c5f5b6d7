import Enclave
import Foundation
import NanoPayCore
import NanoPayTestSupport
import Testing

/// The golden vectors in `attestation/vectors/`, checked by three verifiers that must agree:
/// the library's `QuoteVerifier`, the `nanopay attest verify --file` CLI, and the independent
/// Python verifier `attestation/verify.py`.
@Suite struct AttestationVectorTests {
    static let repo = TestBinaries.repositoryRoot
    static let vectors = repo.appendingPathComponent("attestation/vectors")

    struct Meta: Decodable { var nonce: String; var verifyAt: UInt64; var platformRoot: String; var enclavePublicKey: String }

    let meta: Meta
    let quoteJSON: [String: Any]

    init() throws {
        meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: Self.vectors.appendingPathComponent("vectors.json")))
        quoteJSON = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.vectors.appendingPathComponent("quote.json"))) as? [String: Any])
    }

    // MARK: helpers

    static var nanopay: String { TestBinaries.path("nanopay") }

    static let python = repo.appendingPathComponent("attestation/verify.py").path

    func write(_ object: Any, in dir: TempDirectory, name: String) throws -> String {
        let path = dir.path + "/" + name
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
        return path
    }

    func cli(_ file: String, nonce: String?, root: String? = nil, allowSoftware: Bool = true, now: UInt64? = nil, measurement: String? = nil) throws -> Int32 {
        var args = ["attest", "verify", "--file", file, "--root", root ?? meta.platformRoot, "--now", String(now ?? meta.verifyAt)]
        if let nonce { args += ["--nonce", nonce] }
        if allowSoftware { args.append("--allow-software") }
        if let measurement { args += ["--expect-measurement", measurement] }
        return try runProcess(Self.nanopay, args).status
    }

    func python(_ file: String, nonce: String, root: String? = nil, allowSoftware: Bool = true, now: UInt64? = nil, measurement: String? = nil) throws -> Int32 {
        var args = [Self.python, "quote", file, "--root", root ?? meta.platformRoot, "--nonce", nonce, "--now", String(now ?? meta.verifyAt)]
        if allowSoftware { args.append("--allow-software") }
        if let measurement { args += ["--expect-measurement", measurement] }
        return try runProcess("python3", args).status
    }

    func library(_ object: Any, nonce: String?, allowSoftware: Bool = true) -> Bool {
        guard let data = try? JSONSerialization.data(withJSONObject: object),
              let quote = try? JSONDecoder().decode(AttestationQuote.self, from: data) else { return false }
        let policy = QuoteVerifier.Policy(pinnedRoot: meta.platformRoot, expectedNonce: nonce, allowSoftware: allowSoftware, now: meta.verifyAt)
        return (try? QuoteVerifier(policy: policy).verify(quote)) != nil
    }

    // MARK: tests

    @Test func goldenQuoteAndReceiptVerifyEverywhere() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let file = Self.vectors.appendingPathComponent("quote.json").path
        #expect(library(quoteJSON, nonce: meta.nonce))
        #expect(try cli(file, nonce: meta.nonce) == 0)
        #expect(try python(file, nonce: meta.nonce) == 0)
        let receiptFile = Self.vectors.appendingPathComponent("receipt.json").path
        let receipt = try JSONDecoder().decode(Receipt.self, from: Data(contentsOf: URL(fileURLWithPath: receiptFile)))
        #expect(receipt.verify(pinnedEnclaveKey: Hex.decode(meta.enclavePublicKey)!))
        #expect(try runProcess("python3", [Self.python, "receipt", receiptFile, "--enclave-key", meta.enclavePublicKey]).status == 0)
        var forged = receipt; forged.amount = Amount(forged.amount.value + 1)
        #expect(!forged.verify(pinnedEnclaveKey: Hex.decode(meta.enclavePublicKey)!))
        let forgedFile = dir.path + "/forged-receipt.json"
        try JSONEncoder().encode(forged).write(to: URL(fileURLWithPath: forgedFile))
        #expect(try runProcess("python3", [Self.python, "receipt", forgedFile, "--enclave-key", meta.enclavePublicKey]).status == 2)
    }

    /// Every tampered copy (one changed byte or value anywhere in claims or evidence) is refused by all three.
    @Test func everyTamperedVectorIsRefused() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        func flipHex(_ s: String) -> String { var c = Array(s); c[c.count / 2] = c[c.count / 2] == "0" ? "1" : "0"; return String(c) }
        func flipBase64(_ s: String) -> String { var b = Base64.decode(s)!; b[b.count / 3] ^= 0x01; return Base64.encode(b) }
        var variants: [(String, [String: Any])] = []
        let claims = try #require(quoteJSON["claims"] as? [String: Any]), evidence = try #require(quoteJSON["evidence"] as? [String: Any])
        for key in ["enclavePublicKey", "measurement", "configHash", "nonce", "ticketPublicKey"] {
            var c = claims; c[key] = flipHex(try #require(c[key] as? String))
            var q = quoteJSON; q["claims"] = c; variants.append(("claims." + key, q))
        }
        for key in ["issuedAt", "expiresAt"] {
            var c = claims; c[key] = try #require(c[key] as? Int) + 1
            var q = quoteJSON; q["claims"] = c; variants.append(("claims." + key, q))
        }
        for (key, value) in [("network", "tvm:-3"), ("asset", "USDC"), ("platform", "aws-nitro-enclave")] {
            var c = claims; c[key] = value
            var q = quoteJSON; q["claims"] = c; variants.append(("claims." + key, q))
        }
        for key in ["signature", "certificateSignature"] {
            var e = evidence; e[key] = flipHex(try #require(e[key] as? String))
            var q = quoteJSON; q["evidence"] = e; variants.append(("evidence." + key, q))
        }
        for key in ["document", "certificate"] {
            var e = evidence; e[key] = flipBase64(try #require(e[key] as? String))
            var q = quoteJSON; q["evidence"] = e; variants.append(("evidence." + key, q))
        }
        var q = quoteJSON; q["reportData"] = flipHex(try #require(q["reportData"] as? String)); variants.append(("reportData", q))
        q = quoteJSON; q["type"] = "something-else"; variants.append(("type", q))
        for (name, variant) in variants {
            let file = try write(variant, in: dir, name: name + ".json")
            #expect(!library(variant, nonce: meta.nonce), "library accepted tampered \(name)")
            #expect(try cli(file, nonce: meta.nonce) == 2, "CLI accepted tampered \(name)")
            #expect(try python(file, nonce: meta.nonce) == 2, "verify.py accepted tampered \(name)")
        }
    }

    /// The ticket key is bound into the quote, and all three verifiers name it and its JWK kid alike.
    @Test func ticketKeyIsBoundAndNamedAlikeEverywhere() throws {
        let file = Self.vectors.appendingPathComponent("quote.json").path
        let claims = try #require(quoteJSON["claims"] as? [String: Any])
        let ticketKeyHex = try #require(claims["ticketPublicKey"] as? String)
        let ticketKey = try #require(Hex.decode(ticketKeyHex, byteCount: 32))
        let quote = try JSONDecoder().decode(AttestationQuote.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        let verified = try QuoteVerifier(policy: .init(pinnedRoot: meta.platformRoot, expectedNonce: meta.nonce, allowSoftware: true, now: meta.verifyAt)).verify(quote)
        #expect(verified.ticketPublicKey == ticketKey && verified.ticketPublicKey != verified.enclavePublicKey)
        let kid = TicketJWK(publicKey: ticketKey).kid
        let cli = try runProcess(Self.nanopay, ["attest", "verify", "--file", file, "--root", meta.platformRoot, "--nonce", meta.nonce,
                                              "--now", String(meta.verifyAt), "--allow-software"])
        #expect(cli.status == 0 && cli.output.contains("ticket key:        \(Hex.encode(ticketKey)) (kid \(kid))"), "\(cli.output)")
        let py = try runProcess("python3", [Self.python, "quote", file, "--root", meta.platformRoot, "--nonce", meta.nonce,
                                          "--now", String(meta.verifyAt), "--allow-software"])
        #expect(py.status == 0 && py.output.contains("ticket key: \(Hex.encode(ticketKey))  kid: \(kid)"), "\(py.output)")
        // Claims naming the receipt key as the ticket key do not even encode.
        var same = quote.claims
        same.ticketPublicKey = same.enclavePublicKey
        #expect(same.reportData() == nil)
    }

    @Test func wrongRootNonceTimeMeasurementOrPlatformAreRefused() throws {
        let file = Self.vectors.appendingPathComponent("quote.json").path
        let otherRoot = Hex.encode(try SoftwareAttestationProvider(secret: PlatformSecret(bytes: [UInt8](repeating: 3, count: 32))).rootPublicKey)
        let otherNonce = String(repeating: "00", count: 32)
        let badMeasurement = String(repeating: "ab", count: 48)
        #expect(try cli(file, nonce: meta.nonce, root: otherRoot) == 2)
        #expect(try python(file, nonce: meta.nonce, root: otherRoot) == 2)
        #expect(try cli(file, nonce: otherNonce) == 2)
        #expect(try python(file, nonce: otherNonce) == 2)
        #expect(try cli(file, nonce: nil) == 64) // a saved quote without --nonce is a usage error
        #expect(try cli(file, nonce: meta.nonce, now: meta.verifyAt + 400) == 2)
        #expect(try python(file, nonce: meta.nonce, now: meta.verifyAt + 400) == 2)
        #expect(try cli(file, nonce: meta.nonce, measurement: badMeasurement) == 2)
        #expect(try python(file, nonce: meta.nonce, measurement: badMeasurement) == 2)
        #expect(try cli(file, nonce: meta.nonce, allowSoftware: false) == 2)
        #expect(try python(file, nonce: meta.nonce, allowSoftware: false) == 2)
        #expect(!library(quoteJSON, nonce: meta.nonce, allowSoftware: false))
    }

    @Test func pythonVerifiesALiveQuote() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let enclave = try Enclave(.init(directory: dir.path + "/enclave", secret: PlatformSecret(bytes: [UInt8](repeating: 9, count: 32)), clock: SystemClock()))
        let nonce = Sodium.randomBytes(32)
        let quote = try enclave.quote(nonce: nonce, configHash: Sodium.sha256([1]), network: "tvm:-239", asset: "USDT")
        let file = dir.path + "/live.json"
        try JSONEncoder().encode(quote).write(to: URL(fileURLWithPath: file))
        let root = Hex.encode(enclave.attestation.rootPublicKey)
        let result = try runProcess("python3", [Self.python, "quote", file, "--root", root, "--nonce", Hex.encode(nonce), "--allow-software",
                                              "--expect-measurement", Hex.encode(enclave.measurement)])
        #expect(result.status == 0, "\(result.output)")
    }

    /// Hostile bytes from a peer: each verifier answers exit 2 with a failed check, never a
    /// signal or a traceback. (A 70 kB claim string used to trap the CLI on a u16 length prefix.)
    @Test func hostileQuotesExitTwoFromTheCLIAndVerifyPy() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let claims = try #require(quoteJSON["claims"] as? [String: Any])
        var variants: [(String, Data)] = []
        for (key, value) in [("network", String(repeating: "n", count: 70_000) as Any), ("asset", String(repeating: "a", count: 70_000)),
                             ("platform", String(repeating: "p", count: 70_000)), ("issuedAt", -1), ("expiresAt", -5),
                             ("issuedAt", Double(1e30)), ("expiresAt", 1.5), ("nonce", String(repeating: "ab", count: 40_000)),
                             ("enclavePublicKey", 7), ("issuedAt", true)] {
            var c = claims; c[key] = value
            var q = quoteJSON; q["claims"] = c
            variants.append(("claims.\(key)", try JSONSerialization.data(withJSONObject: q)))
        }
        // 2^64 and beyond do not fit the JSON libraries' integers: write them as text.
        let text = String(decoding: try JSONSerialization.data(withJSONObject: quoteJSON, options: [.sortedKeys]), as: UTF8.self)
        for big in ["18446744073709551616", "340282366920938463463374607431768211456", "-9223372036854775809"] {
            let replaced = text.replacingOccurrences(of: "\"expiresAt\":\(claims["expiresAt"]!)", with: "\"expiresAt\":\(big)")
            #expect(replaced != text)
            variants.append(("expiresAt=\(big.prefix(8))", Data(replaced.utf8)))
        }
        variants.append(("deeply nested", Data((String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000)).utf8)))
        variants.append(("not UTF-8", Data([0xff, 0xfe, 0x00, 0x7b])))
        for (name, data) in variants {
            let file = dir.path + "/hostile-\(variants.firstIndex { $0.0 == name }!).json"
            try data.write(to: URL(fileURLWithPath: file))
            #expect(try cli(file, nonce: meta.nonce) == 2, "CLI on hostile \(name)")
            #expect(try python(file, nonce: meta.nonce) == 2, "verify.py on hostile \(name)")
        }
    }

    /// One receipt, one text: a signed receipt whose text is respelled (friendly or `+0:`
    /// address, upper-case hex) is refused by the library and by verify.py alike.
    @Test func nonCanonicalReceiptTextIsRefused() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let data = try Data(contentsOf: Self.vectors.appendingPathComponent("receipt.json"))
        let receipt = try JSONDecoder().decode(Receipt.self, from: data)
        let key = try #require(Hex.decode(meta.enclavePublicKey, byteCount: 32))
        #expect(receipt.verify(pinnedEnclaveKey: key))
        var respelled: [(String, Receipt)] = []
        var r = receipt; r.from = "+" + receipt.from; respelled.append(("+0: from", r))
        r = receipt; r.to = "00" + receipt.to.dropFirst(); respelled.append(("00: to", r))
        r = receipt; r.nonce = receipt.nonce.uppercased(); respelled.append(("upper-case nonce", r))
        r = receipt; r.confirmationId = receipt.confirmationId.uppercased(); respelled.append(("upper-case id", r))
        for (name, variant) in respelled {
            #expect(!variant.verify(pinnedEnclaveKey: key), "library accepted \(name)")
            let file = dir.path + "/\(name.replacingOccurrences(of: " ", with: "-")).json"
            try JSONEncoder().encode(variant).write(to: URL(fileURLWithPath: file))
            #expect(try runProcess("python3", [Self.python, "receipt", file, "--enclave-key", meta.enclavePublicKey]).status == 2, "verify.py accepted \(name)")
        }
    }

    /// verify.py's own property test (hostile values at every leaf, a seeded random walk).
    @Test func verifyPyPropertyTestPasses() throws {
        let result = try runProcess("python3", [Self.repo.appendingPathComponent("attestation/test_verify.py").path, "--cases", "300"])
        #expect(result.status == 0, "\(result.output.suffix(2000))")
    }

    /// The P-384 code (OpenSSL 3 EVP) derives the same platform root from the published test
    /// secret as the code that made the golden vectors, and its signatures verify.
    @Test func platformRootDerivationIsStable() throws {
        struct Secret: Decodable { var platformSecretHex: String }
        let secret = try JSONDecoder().decode(Secret.self, from: Data(contentsOf: Self.vectors.appendingPathComponent("vectors.json")))
        let provider = try SoftwareAttestationProvider(secret: PlatformSecret(hex: secret.platformSecretHex))
        #expect(Hex.encode(provider.rootPublicKey) == meta.platformRoot)
        let quote = try Enclave(.init(directory: TempDirectory().path + "/e", secret: PlatformSecret(hex: secret.platformSecretHex), clock: SystemClock()))
            .quote(nonce: [1, 2, 3], configHash: Sodium.sha256([7]), network: "tvm:-239", asset: "USDT")
        let verified = try QuoteVerifier(policy: .init(pinnedRoot: meta.platformRoot, expectedNonce: "010203", allowSoftware: true,
                                                       now: SystemClock().nowSeconds())).verify(quote)
        #expect(verified.network == "tvm:-239")
    }
}
