import Foundation

/// A fresh attestation quote, as `GET /attestation?nonce=` serves it. See `attestation/FORMAT.md`.
///
/// `claims` say what the service is (platform, enclave key, measurement, config) and are bound
/// into 64-byte `reportData` the way dstack binds data into a TDX quote's REPORTDATA:
/// `SHA-512("CyberNanoPay:attest:v2:" ‖ canonical(claims))`. Version 2 added the ticket key. `evidence` is the platform's signed
/// statement over that report data; for the `software` platform it is an ES384-signed document
/// shaped like an AWS Nitro attestation document, under a software platform root.
public struct AttestationQuote: Codable, Hashable, Sendable {
    public var type: String
    public var version: Int
    public var platform: String
    public var claims: Claims
    public var reportData: String
    public var evidence: Evidence

    public static let typeName = "cybernanopay-attestation"
    public static let reportDataTag = "CyberNanoPay:attest:v2:"
    /// The one quote version this build issues and accepts.
    public static let currentVersion = 2

    public init(platform: String, claims: Claims, reportData: String, evidence: Evidence) {
        self.type = Self.typeName; self.version = Self.currentVersion; self.platform = platform
        self.claims = claims; self.reportData = reportData; self.evidence = evidence
    }

    public struct Claims: Codable, Hashable, Sendable {
        public var platform: String
        /// Hex of the 32-byte Ed25519 key that signs receipts.
        public var enclavePublicKey: String
        /// Hex SHA-384 of the running executable.
        public var measurement: String
        /// Hex SHA-256 of the canonical trust-relevant configuration.
        public var configHash: String
        /// Hex of the verifier's nonce (0..64 bytes).
        public var nonce: String
        public var issuedAt: UInt64
        public var expiresAt: UInt64
        public var network: String
        public var asset: String
        /// Hex of the 32-byte Ed25519 key that signs tickets (a separate key; `/.well-known/jwks.json`).
        public var ticketPublicKey: String

        public init(platform: String, enclavePublicKey: String, measurement: String, configHash: String, nonce: String,
                    issuedAt: UInt64, expiresAt: UInt64, network: String, asset: String, ticketPublicKey: String) {
            self.platform = platform; self.enclavePublicKey = enclavePublicKey; self.measurement = measurement
            self.configHash = configHash; self.nonce = nonce; self.issuedAt = issuedAt; self.expiresAt = expiresAt
            self.network = network; self.asset = asset; self.ticketPublicKey = ticketPublicKey
        }

        /// Canonical bytes: each field length-prefixed (u16 BE) in a fixed order, times as u64 BE.
        /// Nil if a hex field does not decode or a text field is too long for its length prefix.
        public func canonicalBytes() -> [UInt8]? {
            guard let key = Hex.decode(enclavePublicKey, byteCount: 32),
                  let ticketKey = Hex.decode(ticketPublicKey, byteCount: 32), ticketKey != key,
                  let m = Hex.decode(measurement, byteCount: 48),
                  let c = Hex.decode(configHash, byteCount: 32),
                  let n = Hex.decode(nonce), n.count <= 64,
                  // Length prefixes are u16: a longer text can't be encoded (and a verifier must
                  // refuse it, not trap on it).
                  [platform, network, asset].allSatisfy({ $0.utf8.count <= Int(UInt16.max) })
            else { return nil }
            var w = ByteWriter()
            w.field(platform); w.field(key); w.field(m); w.field(c); w.field(n)
            w.u64(issuedAt); w.u64(expiresAt); w.field(network); w.field(asset); w.field(ticketKey)
            return w.bytes
        }

        public func reportData() -> [UInt8]? {
            guard let bytes = canonicalBytes() else { return nil }
            return Sodium.sha512(Array(AttestationQuote.reportDataTag.utf8) + bytes)
        }
    }

    public struct Evidence: Codable, Hashable, Sendable {
        /// `software-es384/v1` for this build.
        public var format: String
        /// Base64 of the evidence document's exact bytes (JSON), as signed.
        public var document: String
        /// Hex ES384 signature (r‖s) by the certificate's key over `evidenceTag ‖ document bytes`.
        public var signature: String
        /// Base64 of the platform certificate's exact bytes (JSON), as signed by the root.
        public var certificate: String
        /// Hex ES384 signature by the platform root over `certificateTag ‖ certificate bytes`.
        public var certificateSignature: String

        public init(format: String, document: String, signature: String, certificate: String, certificateSignature: String) {
            self.format = format; self.document = document; self.signature = signature
            self.certificate = certificate; self.certificateSignature = certificateSignature
        }
    }

    /// Signed by the attestation key: a Nitro-shaped document. PCR0 = measurement,
    /// PCR1 = SHA-384(config hash bytes), PCR2 = 48 zero bytes (reserved).
    public struct EvidenceDocument: Codable, Hashable, Sendable {
        public var moduleId: String
        public var timestamp: UInt64
        public var digest: String
        public var pcrs: [String: String]
        public var publicKey: String
        public var userData: String
        public var nonce: String
        public init(moduleId: String, timestamp: UInt64, digest: String, pcrs: [String: String], publicKey: String, userData: String, nonce: String) {
            self.moduleId = moduleId; self.timestamp = timestamp; self.digest = digest; self.pcrs = pcrs
            self.publicKey = publicKey; self.userData = userData; self.nonce = nonce
        }
    }

    /// The platform root's endorsement of an attestation key (the stand-in for a vendor certificate chain).
    public struct PlatformCertificate: Codable, Hashable, Sendable {
        public var subject: String
        public var platform: String
        /// Hex of the 97-byte P-384 attestation key.
        public var publicKey: String
        public var notBefore: UInt64
        public var notAfter: UInt64
        public init(subject: String, platform: String, publicKey: String, notBefore: UInt64, notAfter: UInt64) {
            self.subject = subject; self.platform = platform; self.publicKey = publicKey
            self.notBefore = notBefore; self.notAfter = notAfter
        }
    }

    public static let evidenceFormat = "software-es384/v1"
    public static let evidenceTag = "CyberNanoPay:evidence:v1\0"
    public static let certificateTag = "CyberNanoPay:platform-cert:v1\0"
    public static let softwareSubject = "CyberNanoPay SOFTWARE ATTESTATION KEY (NO HARDWARE ISOLATION)"
}
