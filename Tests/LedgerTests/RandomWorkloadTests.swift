import Foundation
import Ledger
import NanoPayCore
import NanoPayService
import NanoPayTestSupport
import Testing

/// SplitMix64: a tiny seeded generator so a failing run reproduces from its seed.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e3779b97f4a7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
        z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
        return z ^ (z >> 31)
    }
}

@Suite struct RandomWorkloadTests {
    /// Edge-biased amounts: small values, powers of two and their neighbours.
    static func amount(_ rng: inout SeededRandom, max: UInt128) -> UInt128 {
        let k = UInt128(1) << UInt128(Int.random(in: 0...20, using: &rng))
        let candidates: [UInt128] = [1, 2, k - 1 == 0 ? 1 : k - 1, k, k + 1, UInt128(Int.random(in: 1...5_000, using: &rng))]
        return min(candidates.randomElement(using: &rng)!, max)
    }

    @Test(arguments: [1, 2, 3, 42, 1337])
    func invariantsHoldAfterEveryStep(seed: UInt64) async throws {
        var rng = SeededRandom(state: seed)
        let f = try Fixture(); defer { f.close() }
        let buyers = (0..<4).map { Buyer(index: 100 + $0) }
        var sent: [AuthorizationFields] = []
        var pending: [String] = []
        var deposited: UInt128 = 0, withdrawn: UInt128 = 0
        for step in 0..<150 {
            let buyer = buyers.randomElement(using: &rng)!
            let op = Int.random(in: 0..<100, using: &rng)
            do {
                switch op {
                case 0..<15:
                    let a = Self.amount(&rng, max: 100_000)
                    try await f.fund(buyer, Amount(a), reference: "dep-\(seed)-\(step)")
                    deposited += a
                case 15..<50:
                    let a = f.authorization(buyer, to: sellerAddress(Int.random(in: 0..<3, using: &rng)), amount: Self.amount(&rng, max: 3_000))
                    sent.append(a)
                    if let id = heldId(try await f.service.verify(a)) { pending.append(id) }
                case 50..<60 where !sent.isEmpty:
                    _ = try await f.service.verify(sent.randomElement(using: &rng)!)
                case 60..<65 where !sent.isEmpty:
                    var a = sent.randomElement(using: &rng)!
                    a.amount = String(Int.random(in: 1...9, using: &rng))
                    _ = try await f.service.verify(a)
                case 65..<75 where !pending.isEmpty:
                    let id = pending.remove(at: Int.random(in: 0..<pending.count, using: &rng))
                    _ = try await f.ledger.decide(approvalId: id, approve: Bool.random(using: &rng), by: "sim", reason: nil)
                case 75..<80:
                    f.clock.advance(seconds: UInt64(Int.random(in: 1...400, using: &rng)))
                    try await f.ledger.sweepExpiredHolds()
                case 80..<87:
                    let a = Self.amount(&rng, max: 2_000)
                    _ = try await f.ledger.withdraw(address: buyer.address, amount: Amount(a), reference: "wd-\(seed)-\(step)")
                    withdrawn += a
                case 87..<95:
                    let update = PolicyUpdate(maxAmount: Bool.random(using: &rng) ? .set(Amount(Self.amount(&rng, max: 2_000))) : .clear,
                                              rateLimit: Bool.random(using: &rng) ? .set(UInt32.random(in: 1...30, using: &rng)) : .clear,
                                              dailyCap: Bool.random(using: &rng) ? .set(Amount(Self.amount(&rng, max: 20_000))) : .clear)
                    _ = try await f.ledger.setPolicy(address: buyer.address, update: update, authority: .operator("sim"))
                case 95..<100:
                    try f.reopen()
                default:
                    break
                }
            } catch let error as NanoPayError {
                #expect(error.code != .internalError && error.code != .storageUnavailable, "seed \(seed) step \(step): \(error)")
            }
            let report = try f.ledger.checkInvariants()
            #expect(report.isConsistent, "seed \(seed) step \(step): \(report)")
            if !report.isConsistent { return }
            var total: UInt128 = 0
            for b in buyers + (0..<3).map({ _ in Buyer(index: 0) }) where b.address != Buyer(index: 0).address {
                let bal = try f.ledger.balance(b.address)
                total += bal.available.value + bal.held.value
            }
            for s in 0..<3 { total += try f.ledger.balance(sellerAddress(s)).available.value }
            #expect(total == deposited - withdrawn, "seed \(seed) step \(step): money was created or lost")
        }
    }
}
