import Enclave
import Logging
import NanoPayCore

/// The one door to the domain: nanopayd's routes, the x402 facilitator, an embedding seller and
/// the operator console call this and nothing below it.
///
/// It owns the rules: the stateless checks of a payment (well-formed, v1 on basechain only, not
/// expired, payer known, signature), run on the caller's thread, in parallel across requests and
/// off the single writer; who may change which policy field; reference formats; what a hold's
/// decision means. The ledger (`LedgerStore`) records facts and returns them; the service turns
/// settled payments into receipts and asks the enclave to sign them.
public final class PaymentService: Sendable {
    public let configuration: ServiceConfiguration
    let ledger: any LedgerStore
    public let enclave: Enclave
    public let clock: any NanoClock
    public let stats: ServiceStats
    let logger: Logger
    /// The domain a v2 authorization binds: this network and this enclave's key.
    public let domain: PaymentAuthorization.Domain

    /// Throws if the configured network cannot be bound into v2 authorizations.
    public init(configuration: ServiceConfiguration, ledger: any LedgerStore, enclave: Enclave, clock: any NanoClock, logger: Logger) throws(NanoPayError) {
        self.configuration = configuration; self.ledger = ledger; self.enclave = enclave; self.clock = clock
        self.logger = logger
        NanoPayMetrics.bootstrap()
        self.stats = ServiceStats()
        self.domain = try PaymentAuthorization.Domain(network: configuration.network, serviceId: enclave.publicKey)
    }

    // MARK: - Payments

    /// Checks in order: well-formed, not expired, payer known, signature valid; then nonce
    /// state, policy and balance inside the ledger transaction.
    ///
    /// `paymentIdentifier` (x402 `payment-identifier`) is bound to this authorization in the
    /// transaction that first records it; an id bound to another one is refused.
    public func verify(_ fields: AuthorizationFields, paymentIdentifier: String? = nil) async throws(NanoPayError) -> PaymentOutcome {
        try await verify(fields, paymentIdentifier: paymentIdentifier, ticketTerms: nil)
    }

    /// `verify`, recording ticket terms with the payment when it buys a ticket.
    func verify(_ fields: AuthorizationFields, paymentIdentifier: String?, ticketTerms: TicketTerms?) async throws(NanoPayError) -> PaymentOutcome {
        do {
            var request = try await prepare(fields)
            request.paymentIdentifier = paymentIdentifier
            request.ticketTerms = ticketTerms
            let outcome = outcome(of: try await ledger.recordPayment(request, holdTimeoutSeconds: configuration.approvalTimeoutSeconds), sign: true)
            stats.record(outcome)
            return outcome
        } catch {
            let e = NanoPayError.wrap(error)
            stats.record(e)
            throw e
        }
    }

    /// What `verify` would answer now, changing nothing (no debit, no nonce consumed). A settled
    /// answer carries an unsigned receipt: nothing was committed, so the enclave vouches for
    /// nothing; a replay's receipt, of a payment that was committed, comes back signed.
    public func check(_ fields: AuthorizationFields) async throws(NanoPayError) -> PaymentOutcome {
        do {
            let record = try await ledger.checkPayment(try await prepare(fields), holdTimeoutSeconds: configuration.approvalTimeoutSeconds)
            if case .settled(_, replayed: true) = record { return outcome(of: record, sign: true) }
            return outcome(of: record, sign: false)
        } catch { throw NanoPayError.wrap(error) }
    }

    /// Up to `batchItemsMax` authorizations; one result per item, in order, each as `verify`
    /// would have answered it alone. Signature checks run in parallel; the ledger commits them
    /// in as few transactions as the writer finds them in; receipts are signed on every core.
    public func verifyBatch(_ items: [AuthorizationFields]) async -> [Result<PaymentOutcome, NanoPayError>] {
        var prepared: [Result<PaymentRequest, NanoPayError>] = []
        prepared.reserveCapacity(items.count)
        // Keys first (one pass over the cache or the readers), then signatures in parallel.
        for item in items {
            do { prepared.append(.success(try await prepare(item, verifySignature: false))) } catch { prepared.append(.failure(NanoPayError.wrap(error))) }
        }
        var checked = await prepared.concurrentMap { p -> Result<PaymentRequest, NanoPayError> in
            p.flatMap { request in
                Sodium.ed25519Verify(signature: request.authorization.signature, message: request.digest, publicKey: request.verifiedPublicKey)
                    ? .success(request) : .failure(Self.badSignature)
            }
        }
        // A signature refused against a cached key gets the full check (the key read again
        // uncached), as `verify` gives it: a replica's cache may trail another's rotation.
        for (i, result) in checked.enumerated() {
            guard case .failure(let e) = result, e.code == .invalidSignature, case .success = prepared[i] else { continue }
            do { checked[i] = .success(try await prepare(items[i], verifySignature: true)) } catch { checked[i] = .failure(NanoPayError.wrap(error)) }
        }
        let ready = checked.compactMap { try? $0.get() }
        let recorded = await ledger.recordPayments(ready, holdTimeoutSeconds: configuration.approvalTimeoutSeconds)
        let signed = await recorded.concurrentMap(minimumPerChunk: 16) { $0.map { self.outcome(of: $0, sign: true) } }
        var settled = signed.makeIterator()
        var results: [Result<PaymentOutcome, NanoPayError>] = []
        results.reserveCapacity(items.count)
        for p in checked {
            switch p {
            case .failure(let e): results.append(.failure(e)); stats.record(e)
            case .success:
                guard let r = settled.next() else { results.append(.failure(NanoPayError(.internalError, "batch lost an item"))); continue }
                switch r {
                case .success(let o): stats.record(o)
                case .failure(let e): stats.record(e)
                }
                results.append(r)
            }
        }
        return results
    }

    static let badSignature = NanoPayError(.invalidSignature, "signature does not verify against the payer's registered key")

    /// The stateless checks. Reads the payer's key from committed state (memory, usually).
    func prepare(_ fields: AuthorizationFields, verifySignature: Bool = true) async throws(NanoPayError) -> PaymentRequest {
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
        let digest = auth.digest(domain: auth.version == .v2 ? domain : nil)
        // The key may come from a cache; a replica's cache may be behind another replica's
        // rotation. Before a refusal, the key is read once more as committed now.
        let cached: [UInt8]?
        do { cached = try await ledger.publicKey(auth.from) } catch { throw NanoPayError.wrap(error) }
        if let key = cached, signs(key) { return PaymentRequest(authorization: auth, digest: digest, verifiedPublicKey: key) }
        let current: [UInt8]?
        do { current = try await ledger.uncachedPublicKey(auth.from) } catch { throw NanoPayError.wrap(error) }
        guard let key = current else {
            throw NanoPayError(.unknownPayer, "payer \(auth.from.raw) has no registered key; deposit first")
        }
        if key != cached, signs(key) { return PaymentRequest(authorization: auth, digest: digest, verifiedPublicKey: key) }
        if let claimedKey, !Sodium.constantTimeEqual(claimedKey, key) {
            throw NanoPayError(.invalidSignature, "publicKey is not the payer's registered key")
        }
        throw Self.badSignature

        /// The claimed key (if any) is this key, and the signature verifies under it.
        func signs(_ key: [UInt8]) -> Bool {
            if let claimedKey, !Sodium.constantTimeEqual(claimedKey, key) { return false }
            return !verifySignature || Sodium.ed25519Verify(signature: auth.signature, message: digest, publicKey: key)
        }
    }

    /// The receipt of a settled payment on this deployment, signed by the enclave (or unsigned,
    /// for a dry run). Receipt bytes are exactly what sellers and `verify.py` check.
    func receipt(_ payment: SettledPayment, sign: Bool = true) -> Receipt {
        var receipt = Receipt(payment, network: configuration.network, asset: configuration.asset, enclavePublicKey: enclave.publicKey)
        if sign {
            // Signed from the typed facts: nothing is parsed back from text on the way.
            let bytes = payment.receiptSigningBytes(network: configuration.network, asset: configuration.asset)
            receipt.signature = Hex.encode(enclave.sign(receiptBytes: bytes))
        }
        return receipt
    }

    func outcome(of record: PaymentRecord, sign: Bool) -> PaymentOutcome {
        switch record {
        case .settled(let payment, let replayed): return .settled(receipt: receipt(payment, sign: sign), replayed: replayed)
        case .held(let id, let expiresAtMilliseconds): return .held(approvalId: id, expiresAtMilliseconds: expiresAtMilliseconds)
        }
    }

    /// Whether the x402 payment identifier `id` is bound to this authorization (payer and nonce).
    public func paymentIdentifier(_ id: String, boundTo fields: AuthorizationFields) async throws(NanoPayError) -> Bool {
        let bound: (payer: String, nonce: [UInt8])?
        do { bound = try await ledger.paymentIdentifier(id) } catch { throw NanoPayError.wrap(error) }
        guard let bound, let payer = try? TONAddress(parsing: fields.from), let nonce = Hex.decode(fields.nonce, byteCount: 32) else { return false }
        return bound.payer == payer.raw && Sodium.constantTimeEqual(bound.nonce, nonce)
    }

    /// The signed receipt of a settled payment.
    public func receipt(confirmationId: String) async throws(NanoPayError) -> Receipt {
        guard Hex.decode(confirmationId, byteCount: 16) != nil else {
            throw NanoPayError(.receiptNotFound, "no receipt with confirmation id \(confirmationId.prefix(64))")
        }
        let payment: SettledPayment?
        do { payment = try await ledger.settledPayment(confirmationId: confirmationId.lowercased()) } catch { throw NanoPayError.wrap(error) }
        guard let payment else { throw NanoPayError(.receiptNotFound, "no receipt with confirmation id \(confirmationId.prefix(64))") }
        return receipt(payment)
    }

    // MARK: - Attestation and upkeep

    /// A fresh quote for the verifier's nonce (at most 64 bytes).
    public func quote(nonce: [UInt8]) throws(NanoPayError) -> AttestationQuote {
        guard nonce.count <= 64 else { throw NanoPayError.invalid("nonce must be hex of at most 64 bytes") }
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

    /// Finishes queued writes and closes the ledger (after the server has drained).
    public func close() { ledger.close() }
}
