import Enclave
import Foundation
import NanoPayCore
import NanoPayTestSupport
import Testing

@Suite struct SealingTests {
    let secret = try! PlatformSecret(bytes: [UInt8](repeating: 9, count: 32))

    @Test func identitySurvivesRestartWithTheSameSecret() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let a = try Enclave(.init(directory: dir.path, secret: secret, clock: SystemClock()))
        let b = try Enclave(.init(directory: dir.path, secret: secret, clock: SystemClock()))
        #expect(a.publicKey == b.publicKey)
        // The seed is not stored in the clear.
        let sealed = try #require(FileManager.default.contents(atPath: dir.path + "/identity.sealed"))
        #expect(sealed.count == 80)
    }

    @Test func wrongSecretIsRefusedNeverReplaced() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let original = try Enclave(.init(directory: dir.path, secret: secret, clock: SystemClock())).publicKey
        let before = FileManager.default.contents(atPath: dir.path + "/identity.sealed")
        let wrong = try PlatformSecret(bytes: [UInt8](repeating: 8, count: 32))
        #expect(throws: EnclaveError.self) { try Enclave(.init(directory: dir.path, secret: wrong, clock: SystemClock())) }
        #expect(FileManager.default.contents(atPath: dir.path + "/identity.sealed") == before)
        #expect(try Enclave(.init(directory: dir.path, secret: secret, clock: SystemClock())).publicKey == original)
    }

    @Test(arguments: [0, 7, 8, 20, 40, 79])
    func tamperedSealedFileIsRefused(offset: Int) throws {
        let dir = TempDirectory(); defer { dir.remove() }
        _ = try Enclave(.init(directory: dir.path, secret: secret, clock: SystemClock()))
        let path = dir.path + "/identity.sealed"
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        bytes[offset] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try Enclave(.init(directory: dir.path, secret: secret, clock: SystemClock()))
            Issue.record("tampered file was accepted")
        } catch { #expect(error.kind == .sealedKey) }
    }

    @Test func secretFileReadableByOthersIsRefused() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let path = dir.path + "/platform.secret"
        _ = try PlatformSecret.create(path: path)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        #expect(throws: EnclaveError.self) { try PlatformSecret.load(path: path) }
    }

    @Test func receiptSignaturesVerifyOnlyWithTheEnclaveKey() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let enclave = try Enclave(.init(directory: dir.path, secret: secret, clock: SystemClock()))
        var receipt = Receipt(confirmationId: String(repeating: "ab", count: 16), from: "0:" + String(repeating: "11", count: 32),
                              to: "0:" + String(repeating: "22", count: 32), amount: Amount(5), nonce: String(repeating: "33", count: 32),
                              validBefore: 10, remainingBalance: Amount(7), confirmedAt: 9, authorizationDigest: String(repeating: "44", count: 32),
                              network: "tvm:-239", asset: "USDT", enclavePublicKey: Hex.encode(enclave.publicKey), signature: "")
        receipt.signature = Hex.encode(enclave.sign(receiptBytes: try #require(receipt.signingBytes())))
        #expect(receipt.verify(pinnedEnclaveKey: enclave.publicKey))
        var forged = receipt; forged.amount = Amount(6)
        #expect(!forged.verify(pinnedEnclaveKey: enclave.publicKey))
        #expect(!receipt.verify(pinnedEnclaveKey: Ed25519KeyPair.generate().publicKey))
    }

    /// The ticket key is its own key (never the receipt key), survives restarts, and signs JWS
    /// compact tickets that verify under it and only under it.
    @Test func ticketsAreSignedByASeparateStableKey() throws {
        let dir = TempDirectory(); defer { dir.remove() }
        let enclave = try Enclave(.init(directory: dir.path, secret: secret, clock: SystemClock()))
        #expect(enclave.ticketPublicKey.count == 32 && enclave.ticketPublicKey != enclave.publicKey)
        #expect(try Enclave(.init(directory: dir.path, secret: secret, clock: SystemClock())).ticketPublicKey == enclave.ticketPublicKey)
        let claims = TicketClaims(iss: Hex.encode(enclave.publicKey), sub: "0:" + String(repeating: "11", count: 32), aud: "seller",
                                  scope: "GET:/api/*", iat: 100, nbf: 100, exp: 400, jti: String(repeating: "ab", count: 16),
                                  amt: "1000", asset: "USDT", payTo: "0:" + String(repeating: "22", count: 32), uses: nil)
        let ticket = enclave.issueTicket(claims)
        let parts = ticket.split(separator: ".").map(String.init)
        #expect(parts.count == 3)
        let header = try #require(Base64.decode(parts[0], urlSafeAllowed: true))
        #expect(String(decoding: header, as: UTF8.self) == #"{"alg":"EdDSA","kid":"\#(enclave.ticketKeyId)","typ":"JWT"}"#)
        #expect(enclave.ticketKeyId == TicketJWK(publicKey: enclave.ticketPublicKey).kid)
        let payload = try #require(Base64.decode(parts[1], urlSafeAllowed: true))
        #expect(try JSONDecoder().decode(TicketClaims.self, from: Data(payload)) == claims)
        let signature = try #require(Base64.decode(parts[2], urlSafeAllowed: true))
        let input = Array((parts[0] + "." + parts[1]).utf8)
        #expect(Sodium.ed25519Verify(signature: signature, message: input, publicKey: enclave.ticketPublicKey))
        #expect(!Sodium.ed25519Verify(signature: signature, message: input, publicKey: enclave.publicKey))
        #expect(!ticket.contains("="), "JWS uses unpadded base64url")
    }
}

@Suite struct AttestationTests {
    let secret = try! PlatformSecret(bytes: [UInt8](repeating: 9, count: 32))
    let nonce = [UInt8](repeating: 0x5a, count: 32)
    let now: UInt64 = 1_795_000_000

    func makeQuote() throws -> (AttestationQuote, Enclave, TempDirectory) {
        let dir = TempDirectory()
        let enclave = try Enclave(.init(directory: dir.path, secret: secret, clock: ManualClock(milliseconds: now * 1000)))
        let quote = try enclave.quote(nonce: nonce, configHash: [UInt8](repeating: 1, count: 32), network: "tvm:-239", asset: "USDT")
        return (quote, enclave, dir)
    }

    func policy(_ enclave: Enclave, nonce: String? = nil, allowSoftware: Bool = true, measurement: String? = nil, at: UInt64? = nil) -> QuoteVerifier.Policy {
        QuoteVerifier.Policy(pinnedRoot: Hex.encode(enclave.attestation.rootPublicKey), expectedNonce: nonce ?? Hex.encode(self.nonce),
                             allowSoftware: allowSoftware, expectedMeasurement: measurement, now: at ?? now + 10)
    }

    func failedCheck(_ quote: AttestationQuote, _ policy: QuoteVerifier.Policy) -> String? {
        do { _ = try QuoteVerifier(policy: policy).verify(quote); return nil } catch { return error.check }
    }

    @Test func freshQuoteVerifies() throws {
        let (quote, enclave, dir) = try makeQuote(); defer { dir.remove() }
        let v = try QuoteVerifier(policy: policy(enclave, measurement: Hex.encode(enclave.measurement))).verify(quote)
        #expect(v.enclavePublicKey == enclave.publicKey)
        #expect(v.platform == "software")
    }

    @Test func everyPolicyFailureNamesItsCheck() throws {
        let (quote, enclave, dir) = try makeQuote(); defer { dir.remove() }
        #expect(failedCheck(quote, policy(enclave, allowSoftware: false)) == "platform")
        #expect(failedCheck(quote, policy(enclave, nonce: "00")) == "nonce")
        #expect(failedCheck(quote, policy(enclave, nonce: "")) == "nonce")
        #expect(failedCheck(quote, policy(enclave, measurement: String(repeating: "00", count: 48))) == "measurement")
        #expect(failedCheck(quote, policy(enclave, at: now + 301)) == "freshness")
        var wrongRoot = policy(enclave)
        wrongRoot.pinnedRoot = Hex.encode(try SoftwareAttestationProvider(secret: PlatformSecret(bytes: [UInt8](repeating: 3, count: 32))).rootPublicKey)
        #expect(failedCheck(quote, wrongRoot) == "root")
    }

    @Test func everyTamperedFieldIsRefused() throws {
        let (quote, enclave, dir) = try makeQuote(); defer { dir.remove() }
        let p = policy(enclave)
        func flipHex(_ s: String) -> String { var c = Array(s); c[0] = c[0] == "0" ? "1" : "0"; return String(c) }
        func flipB64(_ s: String) -> String { var b = Base64.decode(s)!; b[b.count / 2] ^= 1; return Base64.encode(b) }
        var variants: [AttestationQuote] = []
        var q = quote; q.claims.enclavePublicKey = flipHex(q.claims.enclavePublicKey); variants.append(q)
        q = quote; q.claims.measurement = flipHex(q.claims.measurement); variants.append(q)
        q = quote; q.claims.configHash = flipHex(q.claims.configHash); variants.append(q)
        q = quote; q.claims.expiresAt += 1; variants.append(q)
        q = quote; q.claims.network = "tvm:-3"; variants.append(q)
        q = quote; q.reportData = flipHex(q.reportData); variants.append(q)
        q = quote; q.evidence.document = flipB64(q.evidence.document); variants.append(q)
        q = quote; q.evidence.signature = flipHex(q.evidence.signature); variants.append(q)
        q = quote; q.evidence.certificate = flipB64(q.evidence.certificate); variants.append(q)
        q = quote; q.evidence.certificateSignature = flipHex(q.evidence.certificateSignature); variants.append(q)
        for v in variants { #expect(failedCheck(v, p) != nil) }
    }
}
