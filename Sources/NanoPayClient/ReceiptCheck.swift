import NanoPayCore

/// What a seller trusts about the CyberNanoPay it uses: the enclave key receipts must verify
/// under, and the network and asset that service settles (from its attestation quote).
public struct TrustedService: Sendable, Equatable {
    public var enclaveKey: [UInt8]
    public var network: String
    public var asset: String
    /// The key tickets must verify under (attested beside the enclave key); nil: accept no tickets.
    public var ticketKey: [UInt8]?
    public init(enclaveKey: [UInt8], network: String, asset: String, ticketKey: [UInt8]? = nil) {
        self.enclaveKey = enclaveKey; self.network = network; self.asset = asset; self.ticketKey = ticketKey
    }

    /// The domain v2 authorizations to this service bind. Nil if the facts cannot form one.
    public var domain: PaymentAuthorization.Domain? { try? PaymentAuthorization.Domain(network: network, serviceId: enclaveKey) }
}

/// Where a seller gets the facts it checks receipts against, each time it checks one. Nil means
/// "accept no payment now" (for example, re-attestation failed or the enclave key changed).
public protocol ServiceTrust: Sendable {
    var trusted: TrustedService? { get }
}

/// Facts the seller knows without attestation: a `PaymentService` embedded in the same process.
public struct FixedTrust: ServiceTrust {
    public let trusted: TrustedService?
    public init(_ trusted: TrustedService) { self.trusted = trusted }
}

/// Whether a receipt proves payment for *this* request. The answer of the service path is never
/// taken on its word: anything between seller and service (plain HTTP by default) could answer
/// a new authorization with an older genuine receipt. So the receipt must be signed by the
/// trusted key, match the presented authorization field by field (digest recomputed here), be
/// for this offer on the trusted network and asset, be fresh by its signed `confirmedAt`, and
/// be the first this seller sees for its (payer, nonce). The service's unsigned `replayed`
/// field plays no part.
public struct ReceiptCheck: Sendable {
    /// Why a receipt is not accepted: `invalid_receipt` (it does not prove this payment),
    /// `stale_receipt` (signed too long ago), or `replayed` (already served).
    public struct Refusal: Error, Equatable, Sendable {
        public var code: String
        public var message: String
        public init(_ code: String, _ message: String) { self.code = code; self.message = message }
    }

    /// How far `confirmedAt` may be from the seller's clock, either way.
    public var freshnessWindowSeconds: UInt64
    public let seen: SeenPayments

    public init(freshnessWindowSeconds: UInt64 = 60, seen: SeenPayments = SeenPayments()) {
        self.freshnessWindowSeconds = freshnessWindowSeconds; self.seen = seen
    }

    /// The stateless half: everything but "seen before". Returns nil when the receipt proves it.
    public func verify(_ receipt: Receipt, for fields: AuthorizationFields, offer: X402.PaymentRequirements,
                       trusted: TrustedService, nowSeconds: UInt64) -> Refusal? {
        func invalid(_ why: String) -> Refusal { Refusal("invalid_receipt", "the service's receipt \(why)") }
        guard receipt.verify(pinnedEnclaveKey: trusted.enclaveKey) else { return invalid("does not verify under the attested enclave key") }
        guard let (auth, _) = try? fields.validated() else { return invalid("answers an authorization that does not parse") }
        guard let payTo = try? TONAddress(parsing: offer.payTo), let price = try? Amount(parsing: offer.amount, allowZero: false) else {
            return invalid("cannot be matched: the offer is malformed")
        }
        let domain: PaymentAuthorization.Domain?
        switch auth.version {
        case .v1: domain = nil
        case .v2:
            guard let d = trusted.domain else { return invalid("cannot be matched: no v2 domain for the trusted service") }
            domain = d
        }
        let digest = auth.digest(domain: domain)
        guard receipt.from == auth.from.raw, receipt.to == auth.to.raw, auth.to == payTo else { return invalid("is for other accounts") }
        guard receipt.amount == auth.amount, auth.amount == price else { return invalid("is for another amount") }
        guard let nonce = Hex.decode(receipt.nonce, byteCount: 32), Sodium.constantTimeEqual(nonce, auth.nonce),
              receipt.validBefore == auth.validBefore,
              let receiptDigest = Hex.decode(receipt.authorizationDigest, byteCount: 32), Sodium.constantTimeEqual(receiptDigest, digest)
        else { return invalid("is for another authorization") }
        guard receipt.network == trusted.network, offer.network == trusted.network,
              receipt.asset == trusted.asset, offer.asset == trusted.asset
        else { return invalid("is for another network or asset") }
        let window = freshnessWindowSeconds
        let signed = receipt.confirmedAt
        let tooOld = nowSeconds > signed && nowSeconds - signed > window
        let tooNew = signed > nowSeconds && signed - nowSeconds > window
        guard !tooOld, !tooNew else {
            return Refusal("stale_receipt", "the receipt was signed at \(signed), more than \(window) s from this seller's clock (\(nowSeconds))")
        }
        return nil
    }

    /// Verifies and, if the receipt proves this payment, claims its (payer, nonce) so this
    /// seller serves it once. Call only when about to serve.
    public func accept(_ receipt: Receipt, for fields: AuthorizationFields, offer: X402.PaymentRequirements,
                       trusted: TrustedService, nowSeconds: UInt64) -> Refusal? {
        if let refusal = verify(receipt, for: fields, offer: offer, trusted: trusted, nowSeconds: nowSeconds) { return refusal }
        switch seen.claim(payer: receipt.from, nonce: receipt.nonce, validBefore: receipt.validBefore,
                          confirmedAt: receipt.confirmedAt, freshnessWindowSeconds: freshnessWindowSeconds, nowSeconds: nowSeconds) {
        case .claimed: return nil
        case .alreadySeen: return Refusal("replayed", "this payment was already used; sign a new one")
        case .full: return Refusal("seller_busy", "this seller is tracking too many recent payments; retry shortly")
        }
    }
}

/// The (payer, nonce) pairs this seller process has served, so one payment is served once even
/// if the service path repeats a receipt. Kept until the authorization's validBefore, in at
/// most `capacity` entries. When full, entries whose receipts are past the freshness window
/// go first (the freshness check already refuses those); if none can go, new payments are
/// refused rather than letting a replay through.
///
/// Per process: two seller processes behind one load balancer each serve a payment at most
/// once, and rely on the service's own replay protection between them.
public final class SeenPayments: Sendable {
    public enum Claim: Sendable, Equatable { case claimed, alreadySeen, full }

    struct Entry { var validBefore: UInt64; var staleAfter: UInt64 }
    private let entries = Locked<[String: Entry]>([:])
    public let capacity: Int

    public init(capacity: Int = 100_000) { self.capacity = max(1, capacity) }

    public var count: Int { entries.withLock { $0.count } }

    public func claim(payer: String, nonce: String, validBefore: UInt64, confirmedAt: UInt64,
                      freshnessWindowSeconds: UInt64, nowSeconds: UInt64) -> Claim {
        let key = payer + "|" + nonce.lowercased()
        let staleAfter = confirmedAt.addingReportingOverflow(freshnessWindowSeconds).partialValue
        return entries.withLock { map in
            if map[key] != nil { return .alreadySeen }
            if map.count >= capacity {
                map = map.filter { $0.value.validBefore > nowSeconds && $0.value.staleAfter >= nowSeconds }
                if map.count >= capacity { return .full }
            }
            map[key] = Entry(validBefore: validBefore, staleAfter: staleAfter)
            return .claimed
        }
    }
}
