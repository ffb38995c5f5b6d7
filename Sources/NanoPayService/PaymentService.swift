import Enclave
import Ledger
import Logging
import NanoPayCore

/// The domain service the HTTP layer calls. It runs the stateless checks of a payment
/// (well-formed, not expired, payer known, signature) on the caller's thread — in parallel
/// across requests, off the single writer — and hands only verified payments to the ledger.
public final class PaymentService: Sendable {
    public let configuration: ServiceConfiguration
    public let ledger: Ledger
    public let enclave: Enclave
    public let clock: any NanoClock
    public let stats: ServiceStats
    let logger: Logger

    /// Throws if the configured network cannot be bound into v2 authorizations.
    public init(configuration: ServiceConfiguration, ledger: Ledger, enclave: Enclave, clock: any NanoClock, logger: Logger) throws(NanoPayError) {
        self.configuration = configuration; self.ledger = ledger; self.enclave = enclave; self.clock = clock
        self.logger = logger
        self.stats = ServiceStats()
        self.domain = try PaymentAuthorization.Domain(network: configuration.network, serviceId: enclave.publicKey)
    }

    /// The domain a v2 authorization binds: this network and this enclave's key.
    public let domain: PaymentAuthorization.Domain

    /// Checks in order: well-formed, not expired, payer known, signature valid; then nonce
    /// state, policy and balance inside the ledger transaction.
    ///
    /// `paymentIdentifier` (x402 `payment-identifier`) is bound to this authorization in the
    /// transaction that first records it; an id bound to another one is refused.
    public func verify(_ fields: AuthorizationFields, paymentIdentifier: String? = nil) async throws -> PaymentOutcome {
        do {
            var request = try prepare(fields)
            request.paymentIdentifier = paymentIdentifier
            let outcome = try await ledger.pay(request)
            stats.record(outcome)
            return outcome
        } catch {
            let e = NanoPayError.wrap(error)
            stats.record(e)
            throw e
        }
    }

    /// Whether the x402 payment identifier `id` is bound to this authorization (payer and nonce).
    public func paymentIdentifier(_ id: String, boundTo fields: AuthorizationFields) throws(NanoPayError) -> Bool {
        guard let bound = try ledger.paymentIdentifier(id), let payer = try? TONAddress(parsing: fields.from),
              let nonce = Hex.decode(fields.nonce, byteCount: 32) else { return false }
        return bound.payer == payer.raw && Sodium.constantTimeEqual(bound.nonce, nonce)
    }

    /// What `verify` would answer now, changing nothing (no debit, no nonce consumed).
    public func check(_ fields: AuthorizationFields) async throws -> PaymentOutcome {
        try await ledger.checkPayment(try prepare(fields))
    }

    /// Up to `batchItemsMax` authorizations; one result per item, in order, each as `verify`
    /// would have answered it alone. Signature checks run in parallel; the ledger commits them
    /// in as few transactions as the writer finds them in.
    public func verifyBatch(_ items: [AuthorizationFields]) async -> [Result<PaymentOutcome, NanoPayError>] {
        // Signature checks in parallel, one chunk per core.
        let prepared = await items.concurrentMap { item -> Result<PaymentRequest, NanoPayError> in
            do throws(NanoPayError) { return .success(try self.prepare(item)) } catch { return .failure(error) }
        }
        let ready = prepared.compactMap { try? $0.get() }
        var settled = await ledger.pay(batch: ready).makeIterator()
        var results: [Result<PaymentOutcome, NanoPayError>] = []
        for p in prepared {
            switch p {
            case .failure(let e): results.append(.failure(e)); stats.record(e)
            case .success:
                let r = settled.next()!
                switch r {
                case .success(let o): stats.record(o)
                case .failure(let e): stats.record(e)
                }
                results.append(r)
            }
        }
        return results
    }

    /// The stateless checks. Reads the payer's key from committed state.
    func prepare(_ fields: AuthorizationFields) throws(NanoPayError) -> PaymentRequest {
        let (auth, claimedKey) = try fields.validated()
        if auth.version == .v1 {
            if configuration.refuseV1 {
                throw NanoPayError(.unsupportedVersion, "this service refuses v1 authorizations; sign a v2 message that binds network and service")
            }
            // v1 signs account hashes without workchains: the same signature would also pay
            // `-1:<hash>` or `7:<hash>`, an account nobody owns. The CyberNanoPay buyer SDK only
            // makes basechain v1, so that is all v1 may pay.
            guard auth.from.workchain == 0, auth.to.workchain == 0 else {
                throw NanoPayError.invalid("v1 authorizations are accepted on workchain 0 only (they do not sign the workchain); sign a v2 authorization")
            }
        }
        guard clock.nowSeconds() < auth.validBefore else {
            throw NanoPayError(.expired, "authorization expired at \(auth.validBefore) (validBefore)")
        }
        guard let key = try ledger.publicKey(auth.from) else {
            throw NanoPayError(.unknownPayer, "payer \(auth.from.raw) has no registered key; deposit first")
        }
        if let claimedKey, !Sodium.constantTimeEqual(claimedKey, key) {
            throw NanoPayError(.invalidSignature, "publicKey is not the payer's registered key")
        }
        let domain: PaymentAuthorization.Domain? = auth.version == .v2 ? self.domain : nil
        let digest = auth.digest(domain: domain)
        guard Sodium.ed25519Verify(signature: auth.signature, message: digest, publicKey: key) else {
            throw NanoPayError(.invalidSignature, "signature does not verify against the payer's registered key")
        }
        return PaymentRequest(authorization: auth, digest: digest, verifiedPublicKey: key)
    }

    /// Applies a payer-signed tightening of its own policy (see `PolicyTightening`): signed for
    /// this deployment (network and enclave key), for the policy's current `version`, before
    /// `validBefore`, which may be at most an hour ahead. The version is compared inside the
    /// ledger transaction that applies it, so a request applies at most once; a replay, or a
    /// request signed against an older policy, is `policy_conflict`.
    public func tightenPolicy(address: TONAddress, version: UInt64, maxAmount: Amount?, rateLimit: UInt32?, dailyCap: Amount?,
                              validBefore: UInt64, signature: [UInt8]) async throws -> Policy {
        let now = clock.nowSeconds()
        guard now < validBefore else { throw NanoPayError(.expired, "policy request expired (validBefore)") }
        guard validBefore - now <= PolicyTightening.lifetimeSecondsMax else {
            throw NanoPayError.invalid("validBefore may be at most \(PolicyTightening.lifetimeSecondsMax) s ahead")
        }
        guard let key = try ledger.publicKey(address) else {
            throw NanoPayError(.unknownPayer, "\(address.raw) has no registered key")
        }
        let message = PolicyTightening.message(domain: domain, address: address, version: version, maxAmount: maxAmount,
                                               rateLimit: rateLimit, dailyCap: dailyCap, validBefore: validBefore)
        guard Sodium.ed25519Verify(signature: signature, message: Sodium.sha256(message), publicKey: key) else {
            throw NanoPayError(.invalidSignature, "policy signature does not verify against the registered key for this network and service")
        }
        let update = PolicyUpdate(maxAmount: maxAmount.map { .set($0) } ?? .keep, rateLimit: rateLimit.map { .set($0) } ?? .keep,
                                  dailyCap: dailyCap.map { .set($0) } ?? .keep)
        return try await ledger.setPolicy(address: address, update: update, authority: .payer, expectedVersion: version)
    }

    /// A fresh quote for the verifier's nonce.
    public func quote(nonce: [UInt8]) throws(NanoPayError) -> AttestationQuote {
        do {
            return try enclave.quote(nonce: nonce, configHash: configuration.configHash, network: configuration.network, asset: configuration.asset)
        } catch {
            logger.error("attestation failed", metadata: ["reason": "\(error.message)"])
            throw NanoPayError(.internalError, "attestation is unavailable")
        }
    }

    /// Periodic upkeep until cancelled: sweeps expired holds every second, prunes old nonces hourly.
    public func runMaintenance() async {
        var ticks = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if Task.isCancelled { break }
            do {
                try await ledger.sweepExpiredHolds()
                ticks += 1
                if ticks % 3600 == 0 {
                    let pruned = try await ledger.pruneNonces()
                    if pruned > 0 { logger.info("pruned expired nonces", metadata: ["count": "\(pruned)"]) }
                }
            } catch {
                logger.warning("maintenance could not write", metadata: ["error": "\(NanoPayError.wrap(error).code.rawValue)"])
            }
        }
    }
}

