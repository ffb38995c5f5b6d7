import NanoPayCore
import Testing

/// The published test vectors (docs/AUTHORIZATION.md). They were produced independently with
/// Python's `cryptography`; a change to the message layout breaks these tests.
@Suite struct AuthorizationVectorTests {
    static let seed = (1...32).map { UInt8($0) }
    static let from = "0:" + String(repeating: "11", count: 32)
    static let to = "0:" + String(repeating: "22", count: 32)
    static let nonce = [UInt8](repeating: 0x33, count: 32)

    @Test func v1VectorMatchesTheCyberNanoPaySDKLayout() throws {
        let keys = Ed25519KeyPair(seed: Self.seed)
        #expect(Hex.encode(keys.publicKey) == "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664")
        let auth = PaymentAuthorization.sign(keyPair: keys, from: try TONAddress(parsing: Self.from), to: try TONAddress(parsing: Self.to),
                                             amount: Amount(1_000_000), validBefore: 1_795_000_300, nonce: Self.nonce)
        let message = auth.message(domain: nil)
        #expect(message.count == 136)
        #expect(Hex.encode(message) == "4379626572476174657761793a76313a11111111111111111111111111111111111111111111111111111111111111112222222222222222222222222222222222222222222222222222222222222222000000000000000000000000000f4240000000006afd87ec3333333333333333333333333333333333333333333333333333333333333333")
        #expect(Hex.encode(auth.signature) == "f3e8eb7dc3f450cd60686ac09b629827aab6e32c6174ba577d19860fef3b03d2e5ec624a84dc9156b247b85c2e5fa6e96c51d3038350eeda8e5c86ae4b741e05")
        #expect(auth.verifySignature(publicKey: keys.publicKey, domain: nil))
    }

    @Test func v2VectorBindsNetworkServiceAndWorkchains() throws {
        let keys = Ed25519KeyPair(seed: Self.seed)
        let domain = try PaymentAuthorization.Domain(network: "tvm:-239", serviceId: [UInt8](repeating: 0x44, count: 32))
        let from = TONAddress(workchain: -1, hash: [UInt8](repeating: 0x11, count: 32))
        let auth = PaymentAuthorization.sign(keyPair: keys, from: from, to: try TONAddress(parsing: Self.to), amount: Amount(1_000_000),
                                             validBefore: 1_795_000_300, nonce: Self.nonce, version: .v2, domain: domain)
        #expect(Hex.encode(auth.message(domain: domain)) == "4379626572476174657761793a76323a0874766d3a2d3233394444444444444444444444444444444444444444444444444444444444444444ffffffff1111111111111111111111111111111111111111111111111111111111111111000000002222222222222222222222222222222222222222222222222222222222222222000000000000000000000000000f4240000000006afd87ec3333333333333333333333333333333333333333333333333333333333333333")
        #expect(Hex.encode(auth.signature) == "6b32ac83effb10155c0f94f1e0cd27019ce957c8d2c09dd87432d70a419ebc34cbc6ce1e1cafd7152e953d43068c7439a47d39f0b3a5f70e5cd4e2f1bf0ee406")
        #expect(auth.verifySignature(publicKey: keys.publicKey, domain: domain))
        // The same signature does not verify for another deployment or network.
        let other = try PaymentAuthorization.Domain(network: "tvm:-3", serviceId: [UInt8](repeating: 0x44, count: 32))
        #expect(!auth.verifySignature(publicKey: keys.publicKey, domain: other))
        let otherService = try PaymentAuthorization.Domain(network: "tvm:-239", serviceId: [UInt8](repeating: 0x45, count: 32))
        #expect(!auth.verifySignature(publicKey: keys.publicKey, domain: otherService))
    }

    @Test func tamperedFieldsDoNotVerify() throws {
        let keys = Ed25519KeyPair(seed: Self.seed)
        var auth = PaymentAuthorization.sign(keyPair: keys, from: try TONAddress(parsing: Self.from), to: try TONAddress(parsing: Self.to),
                                             amount: Amount(1_000_000), validBefore: 1_795_000_300, nonce: Self.nonce)
        auth.amount = Amount(1_000_001)
        #expect(!auth.verifySignature(publicKey: keys.publicKey, domain: nil))
    }
}
