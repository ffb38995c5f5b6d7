import CNanoPayOpenSSL
import CSodium
import Foundation
import NanoPayCore

/// Produces platform evidence over 64-byte report data. `software` is the one provider in this
/// build; dstack TDX (GetQuote over its unix socket) or AWS Nitro (NSM) plug in here. A hardware
/// provider that fails must fail the quote: nothing falls back silently to software.
public protocol AttestationProvider: Sendable {
    /// `software`, `dstack-tdx`, `aws-nitro-enclave`.
    var platform: String { get }
    /// The key a verifier pins for this platform (software: the 97-byte P-384 root).
    var rootPublicKey: [UInt8] { get }
    func evidence(reportData: [UInt8], nonce: [UInt8], enclavePublicKey: [UInt8], measurement: [UInt8],
                  configHash: [UInt8], nowMilliseconds: UInt64) throws(EnclaveError) -> AttestationQuote.Evidence
}

/// Software attestation: production-shaped, cryptographically valid evidence with NO hardware
/// isolation. A P-384 platform root derived from the platform secret certifies a per-boot P-384
/// attestation key, which signs a Nitro-shaped document carrying the report data. The root's
/// subject and the `software` platform name say plainly what this is; verifiers refuse it
/// unless told to accept software evidence.
public final class SoftwareAttestationProvider: AttestationProvider {
    public let platform = "software"
    public let rootPublicKey: [UInt8]
    private let rootKey: GuardedBytes
    private let moduleId: String
    private let certificateValiditySeconds: UInt64 = 86_400

    private struct AttestationKey {
        let key: GuardedBytes
        let certificate: [UInt8]
        let certificateSignature: [UInt8]
        let notAfter: UInt64
    }
    private let current = Locked<AttestationKey?>(nil)

    public init(secret: PlatformSecret) throws(EnclaveError) {
        var seed = secret.derive("CyberNanoPay:platform-root:software:v1", bytes: 48)
        defer { sodium_memzero(&seed, seed.count) }
        var priv = [UInt8](repeating: 0, count: 48)
        guard np_p384_scalar_from_seed(seed, seed.count, &priv) == 1 else { throw EnclaveError(.crypto, "cannot derive platform root") }
        var pub = [UInt8](repeating: 0, count: 97)
        guard np_p384_public_key(priv, &pub) == 1 else { throw EnclaveError(.crypto, "cannot derive platform root") }
        rootKey = try GuardedBytes(copying: &priv)
        rootPublicKey = pub
        moduleId = "sw:" + Hex.encode(Sodium.randomBytes(8))
    }

    private static func sign(_ key: GuardedBytes, _ message: [UInt8]) throws(EnclaveError) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: 96)
        let ok = key.withUnsafeBytes { np_p384_sign($0.bindMemory(to: UInt8.self).baseAddress, message, message.count, &sig) }
        guard ok == 1 else { throw EnclaveError(.crypto, "ES384 signing failed") }
        return sig
    }

    /// The attestation key valid at `nowSeconds`, made (and certified by the root) on first use
    /// and again when its certificate runs out.
    private func attestationKey(nowSeconds: UInt64) throws(EnclaveError) -> AttestationKey {
        if let key = current.withLock({ $0 }), nowSeconds + 600 < key.notAfter { return key }
        var seed = Sodium.randomBytes(48)
        defer { sodium_memzero(&seed, seed.count) }
        var priv = [UInt8](repeating: 0, count: 48)
        guard np_p384_scalar_from_seed(seed, seed.count, &priv) == 1 else { throw EnclaveError(.crypto, "cannot make attestation key") }
        var pub = [UInt8](repeating: 0, count: 97)
        guard np_p384_public_key(priv, &pub) == 1 else { throw EnclaveError(.crypto, "cannot make attestation key") }
        let guarded = try GuardedBytes(copying: &priv)
        let cert = AttestationQuote.PlatformCertificate(
            subject: AttestationQuote.softwareSubject, platform: platform, publicKey: Hex.encode(pub),
            notBefore: nowSeconds, notAfter: nowSeconds + certificateValiditySeconds)
        let certBytes = Array(Self.encoder.encodeOrEmpty(cert))
        let certSig = try Self.sign(rootKey, Array(AttestationQuote.certificateTag.utf8) + certBytes)
        let key = AttestationKey(key: guarded, certificate: certBytes, certificateSignature: certSig, notAfter: cert.notAfter)
        current.withLock { $0 = key }
        return key
    }

    public func evidence(reportData: [UInt8], nonce: [UInt8], enclavePublicKey: [UInt8], measurement: [UInt8],
                         configHash: [UInt8], nowMilliseconds: UInt64) throws(EnclaveError) -> AttestationQuote.Evidence {
        let key = try attestationKey(nowSeconds: nowMilliseconds / 1000)
        let document = AttestationQuote.EvidenceDocument(
            moduleId: moduleId, timestamp: nowMilliseconds, digest: "SHA384",
            pcrs: ["0": Hex.encode(measurement), "1": Hex.encode(P384.sha384(configHash)), "2": Hex.encode([UInt8](repeating: 0, count: 48))],
            publicKey: Hex.encode(enclavePublicKey), userData: Hex.encode(reportData), nonce: Hex.encode(nonce))
        let docBytes = Array(Self.encoder.encodeOrEmpty(document))
        let sig = try Self.sign(key.key, Array(AttestationQuote.evidenceTag.utf8) + docBytes)
        return AttestationQuote.Evidence(format: AttestationQuote.evidenceFormat, document: Base64.encode(docBytes),
                                         signature: Hex.encode(sig), certificate: Base64.encode(key.certificate),
                                         certificateSignature: Hex.encode(key.certificateSignature))
    }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()
}

extension JSONEncoder {
    func encodeOrEmpty<T: Encodable>(_ value: T) -> Data { (try? encode(value)) ?? Data() }
}
