import Foundation
import Testing

/// Seeded simulation of the ledger against `ReferenceModel` (see RELIABILITY.md).
///
/// CI runs the fixed seeds below. A soak runs many more:
/// `NANOPAY_SIM_SEEDS=1-500 NANOPAY_SIM_STEPS=2000 swift test --filter SimulationTests`
/// (`NANOPAY_SIM_SEEDS` takes a single seed, a list `1,7,9` or a range `1-500`).
@Suite struct SimulationTests {
    static let ciSeeds: [UInt64] = [1, 2, 3, 5, 8, 13, 21, 42, 1337, 0xC0FFEE]

    static var seeds: [UInt64] {
        guard let spec = ProcessInfo.processInfo.environment["NANOPAY_SIM_SEEDS"], !spec.isEmpty else { return ciSeeds }
        return spec.split(separator: ",").flatMap { part -> [UInt64] in
            let bounds = part.split(separator: "-").compactMap { UInt64($0) }
            if bounds.count == 2, bounds[0] <= bounds[1] { return Array(bounds[0]...bounds[1]) }
            return bounds.prefix(1).map { $0 }
        }
    }

    static var steps: Int { Int(ProcessInfo.processInfo.environment["NANOPAY_SIM_STEPS"] ?? "") ?? 300 }

    @Test func ledgerMatchesTheReferenceModel() async throws {
        for seed in Self.seeds {
            let sim = try await Simulator(seed: seed)
            defer { sim.close() }
            do {
                try await sim.run(steps: Self.steps)
            } catch let failure as SimulationFailure {
                Issue.record("\(failure)")
                return
            }
            // A run that never reached the interesting states would prove little.
            #expect(sim.model.totals.settled > 0, "seed \(seed): no payment settled")
        }
    }

    /// The same seeded workload over two replicas on one PostgreSQL database (each operation to
    /// either, a "reopen" restarts a replica), checked against the same model and invariants.
    @Test func twoPostgresReplicasMatchTheReferenceModel() async throws {
        for seed in Self.seeds.prefix(Self.seeds == Self.ciSeeds ? 4 : Self.seeds.count) {
            let sim = try await Simulator(seed: seed, engine: .postgres)
            defer { sim.close() }
            do {
                try await sim.run(steps: Self.steps)
            } catch let failure as SimulationFailure {
                Issue.record("postgres: \(failure)")
                return
            }
            #expect(sim.model.totals.settled > 0, "seed \(seed): no payment settled")
        }
    }

    /// The simulator must reach every kind of operation and outcome over the CI seeds.
    @Test func simulationCoversEveryOperation() async throws {
        var counts: [String: Int] = [:]
        var outcomes = Set<String>()
        for seed in Self.ciSeeds.prefix(4) {
            let sim = try await Simulator(seed: seed)
            defer { sim.close() }
            try await sim.run(steps: 300)
            counts.merge(sim.counts, uniquingKeysWith: +)
            outcomes.formUnion(sim.observedOutcomes)
        }
        for op in ["deposit", "deposit.repeat", "withdraw", "pay", "pay.resubmit", "pay.reuse-nonce", "pay.dry-run", "approve", "reject",
                   "clock.forward", "clock.backward", "policy.operator", "policy.payer", "rotate-key", "prune", "reopen",
                   "pay.expired", "pay.unknown"] {
            #expect(counts[op, default: 0] > 0, "operation \(op) never ran")
        }
        for outcome in ["settled", "replayed", "held", "insufficient_balance", "nonce_reused", "invalid_signature", "expired",
                        "unknown_payer", "rate_limited", "amount_overflow", "reference_conflict", "policy_not_tighter",
                        "approval_expired", "already_approved", "approval_rejected", "invalid_request"] {
            #expect(outcomes.contains(outcome), "outcome \(outcome) never happened")
        }
    }
}
