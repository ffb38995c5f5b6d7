import Foundation
import Logging
import NanoPayCore

/// A nanopayd a seller has attested, and keeps attesting.
///
/// At start it fetches a quote for a fresh nonce and verifies it under the pinned platform root;
/// the enclave key, network and asset of that quote are what receipts are checked against. A
/// quote expires, so the service is attested again before then (at half its remaining life).
/// If re-attestation fails, or names another enclave key, `trusted` becomes nil and sellers
/// stop accepting payments, with a log line that says why; a later successful attestation of
/// the *same* key resumes. A changed key never resumes: sellers pinned the first one, and a
/// restart with a fresh pin is the operator's decision.
public final class PinnedService: ServiceTrust, Sendable {
    public let client: ServiceClient
    /// The first verified quote: the key, network and asset this seller pinned.
    public let verified: QuoteVerifier.Verified
    public var enclaveKey: [UInt8] { verified.enclavePublicKey }

    public struct Attestation: Sendable {
        public var pinnedRoot: String
        public var allowSoftware: Bool
        public var expectedMeasurement: String?
    }
    public let attestation: Attestation

    enum State: Sendable {
        case trusted(expiresAt: UInt64)
        case suspended(reason: String, keyChanged: Bool)
    }
    private let state: Locked<State>
    private let refresher = Locked<Task<Void, Never>?>(nil)
    private let logger: Logger
    private let clock: any NanoClock

    init(client: ServiceClient, verified: QuoteVerifier.Verified, attestation: Attestation, logger: Logger, clock: any NanoClock) {
        self.client = client; self.verified = verified; self.attestation = attestation; self.logger = logger; self.clock = clock
        state = Locked(.trusted(expiresAt: verified.expiresAt))
    }

    /// Attests the service with a fresh nonce, pins its enclave key, and starts re-attesting it
    /// in the background (`stop()` ends that).
    public static func attest(url: String, pinnedRoot: String, allowSoftware: Bool, expectedMeasurement: String? = nil,
                              logger: Logger = Logger(label: "nanopay.pinned-service"), clock: any NanoClock = SystemClock()) async throws -> PinnedService {
        let client = ServiceClient(baseURL: url)
        let attestation = Attestation(pinnedRoot: pinnedRoot, allowSoftware: allowSoftware, expectedMeasurement: expectedMeasurement)
        let verified = try await fetch(client, attestation, clock: clock)
        let service = PinnedService(client: client, verified: verified, attestation: attestation, logger: logger, clock: clock)
        service.startRefreshing()
        return service
    }

    static func fetch(_ client: ServiceClient, _ a: Attestation, clock: any NanoClock) async throws -> QuoteVerifier.Verified {
        let policy = QuoteVerifier.Policy(pinnedRoot: a.pinnedRoot, expectedNonce: nil, allowSoftware: a.allowSoftware,
                                          expectedMeasurement: a.expectedMeasurement, now: clock.nowSeconds())
        return try await client.attest(nonce: Sodium.randomBytes(32), policy: policy).1
    }

    /// The facts to check receipts against now; nil while suspended.
    public var trusted: TrustedService? {
        guard case .trusted = state.withLock({ $0 }) else { return nil }
        return TrustedService(enclaveKey: verified.enclavePublicKey, network: verified.network, asset: verified.asset,
                              ticketKey: verified.ticketPublicKey)
    }

    /// Why payments are not accepted now, if they are not.
    public var suspendedReason: String? {
        if case .suspended(let reason, _) = state.withLock({ $0 }) { return reason }
        return nil
    }

    /// Attests once more now and updates `trusted`. Returns the seconds until the next attempt.
    @discardableResult
    public func reattest() async -> UInt64 {
        do {
            let fresh = try await Self.fetch(client, attestation, clock: clock)
            guard Sodium.constantTimeEqual(fresh.enclavePublicKey, verified.enclavePublicKey),
                  fresh.network == verified.network, fresh.asset == verified.asset else {
                let reason = "the service now attests enclave key \(Hex.encode(fresh.enclavePublicKey)) on \(fresh.network)/\(fresh.asset), not the pinned \(Hex.encode(verified.enclavePublicKey)) on \(verified.network)/\(verified.asset)"
                state.withLock { $0 = .suspended(reason: reason, keyChanged: true) }
                logger.error("refusing payments: the attested service changed", metadata: ["reason": "\(reason)"])
                return 30
            }
            let resumed: Bool = state.withLock { s in
                if case .suspended(_, keyChanged: true) = s { return false }
                let wasSuspended: Bool
                if case .suspended = s { wasSuspended = true } else { wasSuspended = false }
                s = .trusted(expiresAt: fresh.expiresAt)
                return wasSuspended
            }
            if resumed { logger.notice("accepting payments again: the service attested the pinned key") }
            return Self.nextAttempt(expiresAt: fresh.expiresAt, now: clock.nowSeconds())
        } catch {
            let reason = "re-attestation failed: \(error)"
            let suspendedNow: Bool = state.withLock { s in
                if case .suspended(_, keyChanged: true) = s { return false }
                s = .suspended(reason: reason, keyChanged: false)
                return true
            }
            if suspendedNow { logger.error("refusing payments until the service attests again", metadata: ["reason": "\(reason)"]) }
            return 10
        }
    }

    /// Seconds until the next attestation: half the quote's remaining life, at least 5.
    static func nextAttempt(expiresAt: UInt64, now: UInt64) -> UInt64 {
        max(5, expiresAt > now ? (expiresAt - now) / 2 : 5)
    }

    func startRefreshing() {
        let task = Task { [weak self] in
            var delay = self.map { Self.nextAttempt(expiresAt: $0.verified.expiresAt, now: $0.clock.nowSeconds()) } ?? 5
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(Int64(clamping: delay)))
                guard !Task.isCancelled, let self else { return }
                delay = await self.reattest()
            }
        }
        refresher.withLock { $0 = task }
    }

    /// Stops re-attesting (the last state stays in force).
    public func stop() { refresher.withLock { $0?.cancel(); $0 = nil } }

    deinit { refresher.withLock { $0?.cancel() } }

    public var verifier: RemoteVerifier { RemoteVerifier(client: client) }

    /// The offer for `amount` to `payTo` on the attested network and asset, naming this service.
    public func offer(amount: String, payTo: TONAddress, maxTimeoutSeconds: Int = 300) -> X402.PaymentRequirements {
        X402.PaymentRequirements(network: verified.network, asset: verified.asset, amount: amount, payTo: payTo.raw,
                                 maxTimeoutSeconds: maxTimeoutSeconds,
                                 extra: ["name": .string("CyberNanoPay"), "verifyingContract": .string(payTo.raw),
                                         "teeEndpoint": .string(client.baseURL), "enclavePublicKey": .string(Hex.encode(enclaveKey))])
    }
}
