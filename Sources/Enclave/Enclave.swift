import CNanoPayOpenSSL
import CSodium
import Foundation
import NanoPayCore

/// The trust boundary: the only place the service's private keys live.
///
/// Public surface: the identity public key, receipt and settlement signing, attestation quotes,
/// and the measurement. The Ed25519 identity is created on first start, sealed to the data
/// directory under a key derived from the platform secret, and held in guarded memory; no API
/// returns private key bytes and nothing here logs key or signature material.
public final class Enclave: ReceiptSigner, @unchecked Sendable {
    /// What the enclave starts from. It keeps none of `secret`: the keys it needs are derived in
    /// `init`, so once the caller drops the configuration no copy of the secret is left.
    public struct Configuration: Sendable {
        /// Where `identity.sealed` lives (created if missing).
        public var directory: String
        public var secret: PlatformSecret
        public var clock: any NanoClock
        /// How long a quote stays valid after it is issued.
        public var quoteValiditySeconds: UInt64
        /// Path of the executable to measure; defaults to `/proc/self/exe`.
        public var executablePath: String
        /// A cluster's sealed identity (kept in its shared database), used instead of
        /// `directory/identity.sealed`: every replica with the same platform secret opens the same
        /// key; another secret is refused, and no second key is ever made.
        public var sealedIdentity: [UInt8]?

        public init(directory: String, secret: PlatformSecret, clock: any NanoClock,
                    quoteValiditySeconds: UInt64 = 300, executablePath: String = "/proc/self/exe") {
            self.directory = directory; self.secret = secret; self.clock = clock
            self.quoteValiditySeconds = quoteValiditySeconds; self.executablePath = executablePath
        }
    }

    public let publicKey: [UInt8]
    /// The ticket key's public half: a second Ed25519 key, derived from the sealed identity under
    /// its own label, that signs only tickets (JWS). Bound into every quote.
    public let ticketPublicKey: [UInt8]
    /// The ticket key's JWK `kid`: its RFC 7638 thumbprint.
    public let ticketKeyId: String
    /// SHA-384 of the running executable.
    public let measurement: [UInt8]
    public let attestation: any AttestationProvider
    private let secretKey: GuardedBytes
    private let ticketSecretKey: GuardedBytes
    private let clock: any NanoClock
    private let quoteValiditySeconds: UInt64

    public static let settlementTag = "CyberNanoPay:settlement:v1\0"

    /// A fresh identity, sealed under `secret`, for a cluster's database: the first replica
    /// offers it, and whichever replica's offer was stored first is the cluster's identity. The
    /// seed never leaves sealed.
    public static func sealNewIdentity(secret: PlatformSecret) -> [UInt8] {
        var seed = Sodium.randomBytes(32)
        defer { sodium_memzero(&seed, seed.count) }
        return SealedIdentity.seal(seed: seed, secret: secret)
    }
    static let ticketKeyLabel = "CyberNanoPay:ticket-key:v1"

    public init(_ configuration: Configuration, attestation: (any AttestationProvider)? = nil) throws(EnclaveError) {
        clock = configuration.clock
        quoteValiditySeconds = configuration.quoteValiditySeconds
        do {
            try FileManager.default.createDirectory(atPath: configuration.directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch { throw EnclaveError(.storage, "cannot create enclave directory \(configuration.directory)") }
        var seed: [UInt8]
        if let sealed = configuration.sealedIdentity {
            seed = try SealedIdentity.unseal(sealed, origin: "the cluster's sealed identity (database)", secret: configuration.secret)
        } else {
            seed = try SealedIdentity.loadOrCreate(path: configuration.directory + "/identity.sealed", secret: configuration.secret)
        }
        var pk = [UInt8](repeating: 0, count: 32)
        var sk = [UInt8](repeating: 0, count: 64)
        crypto_sign_seed_keypair(&pk, &sk, seed)
        // The ticket key: a separate key for a separate purpose, stable across restarts because
        // it is derived from the sealed seed (keyed BLAKE2b under its own label).
        var ticketSeed = Sodium.blake2b(Array(Self.ticketKeyLabel.utf8), key: seed)
        sodium_memzero(&seed, seed.count)
        var tpk = [UInt8](repeating: 0, count: 32)
        var tsk = [UInt8](repeating: 0, count: 64)
        crypto_sign_seed_keypair(&tpk, &tsk, ticketSeed)
        sodium_memzero(&ticketSeed, ticketSeed.count)
        secretKey = try GuardedBytes(copying: &sk)
        ticketSecretKey = try GuardedBytes(copying: &tsk)
        publicKey = pk
        ticketPublicKey = tpk
        ticketKeyId = TicketJWK(publicKey: tpk).thumbprint
        var m = [UInt8](repeating: 0, count: 48)
        guard np_sha384_file(configuration.executablePath, &m) == 1 else {
            throw EnclaveError(.storage, "cannot measure executable \(configuration.executablePath)")
        }
        measurement = m
        if let attestation {
            self.attestation = attestation
        } else {
            self.attestation = try SoftwareAttestationProvider(secret: configuration.secret)
        }
    }

    /// Signs receipt bytes. Only byte strings tagged as receipts are signed, so this key can never
    /// be made to sign something that parses as another kind of statement.
    public func sign(receiptBytes: [UInt8]) -> [UInt8] {
        precondition(receiptBytes.starts(with: Receipt.tag.utf8), "only tagged receipt bytes are signed")
        return signRaw(receiptBytes)
    }

    /// Signs settlement data (batches sent on chain), under its own domain tag.
    public func sign(settlementBytes: [UInt8]) -> [UInt8] {
        signRaw(Array(Self.settlementTag.utf8) + settlementBytes)
    }

    /// Signs a ticket: a JWS compact JWT with header `{"alg":"EdDSA","kid":…,"typ":"JWT"}`, built
    /// here so the ticket key signs nothing but tickets.
    public func issueTicket(_ claims: TicketClaims) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let header = #"{"alg":"EdDSA","kid":"\#(ticketKeyId)","typ":"JWT"}"#
        // Encoding a struct of strings and integers cannot fail.
        let payload = (try? encoder.encode(claims)).map { [UInt8]($0) } ?? []
        let signingInput = Base64.url(Array(header.utf8)) + "." + Base64.url(payload)
        return signingInput + "." + Base64.url(signRaw(Array(signingInput.utf8), with: ticketSecretKey))
    }

    private func signRaw(_ message: [UInt8]) -> [UInt8] { signRaw(message, with: secretKey) }

    private func signRaw(_ message: [UInt8], with key: GuardedBytes) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: 64)
        key.withUnsafeBytes { sk in
            _ = crypto_sign_detached(&sig, nil, message, UInt64(message.count), sk.bindMemory(to: UInt8.self).baseAddress!)
        }
        return sig
    }

    /// A fresh quote for the verifier's nonce (0..64 bytes), binding the enclave key, the
    /// measurement and the trust-relevant configuration.
    public func quote(nonce: [UInt8], configHash: [UInt8], network: String, asset: String) throws(EnclaveError) -> AttestationQuote {
        precondition(nonce.count <= 64 && configHash.count == 32)
        let nowMs = clock.nowMilliseconds()
        let issuedAt = nowMs / 1000
        let claims = AttestationQuote.Claims(
            platform: attestation.platform, enclavePublicKey: Hex.encode(publicKey), measurement: Hex.encode(measurement),
            configHash: Hex.encode(configHash), nonce: Hex.encode(nonce), issuedAt: issuedAt,
            expiresAt: issuedAt + quoteValiditySeconds, network: network, asset: asset, ticketPublicKey: Hex.encode(ticketPublicKey))
        guard let reportData = claims.reportData() else { throw EnclaveError(.crypto, "claims do not encode") }
        let evidence = try attestation.evidence(reportData: reportData, nonce: nonce, enclavePublicKey: publicKey,
                                                measurement: measurement, configHash: configHash, nowMilliseconds: nowMs)
        return AttestationQuote(platform: attestation.platform, claims: claims, reportData: Hex.encode(reportData), evidence: evidence)
    }
}
