import Foundation

/// Seller-side verification of an attestation quote. One code path; every failure names the
/// check that failed. Software evidence is refused unless the caller explicitly allows it.
public struct QuoteVerifier: Sendable {
    public struct Policy: Sendable {
        /// Hex of the pinned 97-byte P-384 platform root key.
        public var pinnedRoot: String
        /// The nonce the verifier issued (hex), or nil to skip (only for quotes you fetched yourself without one).
        public var expectedNonce: String?
        public var allowSoftware: Bool
        public var expectedMeasurement: String?
        /// Unix seconds at which to judge validity.
        public var now: UInt64
        public var clockSkewSeconds: UInt64

        public init(pinnedRoot: String, expectedNonce: String?, allowSoftware: Bool = false,
                    expectedMeasurement: String? = nil, now: UInt64, clockSkewSeconds: UInt64 = 60) {
            self.pinnedRoot = pinnedRoot; self.expectedNonce = expectedNonce; self.allowSoftware = allowSoftware
            self.expectedMeasurement = expectedMeasurement; self.now = now; self.clockSkewSeconds = clockSkewSeconds
        }
    }

    /// What a valid quote establishes.
    public struct Verified: Sendable, Equatable {
        public var platform: String
        public var enclavePublicKey: [UInt8]
        public var measurement: String
        public var configHash: String
        public var expiresAt: UInt64
        public var network: String
        public var asset: String
        /// The key that signs this service's tickets (JWS `kid` = `TicketJWK(publicKey:).kid`).
        public var ticketPublicKey: [UInt8]
    }

    /// The failing check, by stable name, and why.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var check: String
        public var detail: String
        public var description: String { "attestation check '\(check)' failed: \(detail)" }
        public init(check: String, detail: String) { self.check = check; self.detail = detail }
    }

    public let policy: Policy
    public init(policy: Policy) { self.policy = policy }

    public func verify(_ quote: AttestationQuote) throws(Failure) -> Verified {
        func fail(_ check: String, _ detail: String) -> Failure { Failure(check: check, detail: detail) }
        // The latest acceptable issue time; saturating, as `now` may come from a command line.
        let latest = policy.now.addingReportingOverflow(policy.clockSkewSeconds).overflow ? .max : policy.now + policy.clockSkewSeconds

        guard quote.type == AttestationQuote.typeName, quote.version == AttestationQuote.currentVersion else { throw fail("format", "unknown quote type or version") }
        guard quote.platform == quote.claims.platform else { throw fail("platform", "envelope and claims disagree on the platform") }
        guard quote.platform == "software" else { throw fail("platform", "platform '\(quote.platform)' is not supported by this verifier") }
        guard policy.allowSoftware else {
            throw fail("platform", "software evidence has no hardware isolation; pass --allow-software to accept it")
        }
        guard quote.evidence.format == AttestationQuote.evidenceFormat else { throw fail("format", "unknown evidence format") }

        // Evidence chain: pinned root -> platform certificate -> evidence document.
        guard let root = Hex.decode(policy.pinnedRoot, byteCount: 97) else { throw fail("root", "pinned root is not a 97-byte P-384 key") }
        guard let certBytes = Base64.decode(quote.evidence.certificate),
              let certSig = Hex.decode(quote.evidence.certificateSignature, byteCount: 96)
        else { throw fail("certificate", "certificate is not decodable") }
        guard P384.verify(publicKey: root, message: Array(AttestationQuote.certificateTag.utf8) + certBytes, signature: certSig) else {
            throw fail("root", "certificate is not signed by the pinned platform root")
        }
        guard let cert = try? JSONDecoder().decode(AttestationQuote.PlatformCertificate.self, from: Data(certBytes)),
              let attestationKey = Hex.decode(cert.publicKey, byteCount: 97)
        else { throw fail("certificate", "certificate is malformed") }
        guard cert.platform == quote.platform else { throw fail("certificate", "certificate is for platform '\(cert.platform)'") }
        guard cert.notBefore <= latest, policy.now < cert.notAfter else {
            throw fail("certificate", "attestation key certificate is not valid now")
        }
        guard let docBytes = Base64.decode(quote.evidence.document),
              let docSig = Hex.decode(quote.evidence.signature, byteCount: 96)
        else { throw fail("evidence", "evidence is not decodable") }
        guard P384.verify(publicKey: attestationKey, message: Array(AttestationQuote.evidenceTag.utf8) + docBytes, signature: docSig) else {
            throw fail("evidence", "evidence signature does not verify under the certified attestation key")
        }
        guard let doc = try? JSONDecoder().decode(AttestationQuote.EvidenceDocument.self, from: Data(docBytes)) else {
            throw fail("evidence", "evidence document is malformed")
        }
        guard doc.digest == "SHA384", doc.moduleId.hasPrefix("sw:") else { throw fail("evidence", "evidence document is not a software document") }

        // Claims bound into report data, and report data into the evidence.
        guard let reportData = quote.claims.reportData() else { throw fail("claims", "claims are malformed") }
        guard Hex.encode(reportData) == quote.reportData.lowercased() else { throw fail("report_data", "report data does not match the claims") }
        guard doc.userData.lowercased() == Hex.encode(reportData) else { throw fail("report_data", "evidence does not carry this report data") }
        guard doc.publicKey.lowercased() == quote.claims.enclavePublicKey.lowercased() else {
            throw fail("enclave_key", "evidence names a different enclave key")
        }
        guard doc.pcrs["0"]?.lowercased() == quote.claims.measurement.lowercased() else {
            throw fail("measurement", "PCR0 does not equal the claimed measurement")
        }
        guard let configHash = Hex.decode(quote.claims.configHash, byteCount: 32),
              doc.pcrs["1"]?.lowercased() == Hex.encode(P384.sha384(configHash))
        else { throw fail("config", "PCR1 does not match the claimed config hash") }

        // Freshness and the verifier's own expectations.
        if let expected = policy.expectedNonce {
            guard !expected.isEmpty else { throw fail("nonce", "an empty nonce proves no freshness") }
            guard quote.claims.nonce.lowercased() == expected.lowercased(), doc.nonce.lowercased() == expected.lowercased() else {
                throw fail("nonce", "quote was not made for this nonce")
            }
        }
        guard quote.claims.issuedAt <= latest else { throw fail("freshness", "quote is issued in the future") }
        guard policy.now < quote.claims.expiresAt else { throw fail("freshness", "quote has expired") }
        if let expectedMeasurement = policy.expectedMeasurement,
           expectedMeasurement.lowercased() != quote.claims.measurement.lowercased() {
            throw fail("measurement", "measurement is not the expected one")
        }
        guard let enclaveKey = Hex.decode(quote.claims.enclavePublicKey, byteCount: 32),
              let ticketKey = Hex.decode(quote.claims.ticketPublicKey, byteCount: 32) else {
            throw fail("enclave_key", "enclave key is malformed")
        }
        return Verified(platform: quote.platform, enclavePublicKey: enclaveKey, measurement: quote.claims.measurement.lowercased(),
                        configHash: quote.claims.configHash.lowercased(), expiresAt: quote.claims.expiresAt,
                        network: quote.claims.network, asset: quote.claims.asset, ticketPublicKey: ticketKey)
    }
}
