import Foundation
import Ledger
import NanoPayCore
import NanoPayService
import NanoPayTestSupport
import Testing

@Suite struct DurabilityTests {
    @Test func everythingSurvivesReopen() async throws {
        let f = try Fixture(); defer { f.close() }
        let buyer = Buyer(index: 20)
        try await f.fund(buyer, 5_000)
        _ = try await f.ledger.setPolicy(address: buyer.address, update: PolicyUpdate(maxAmount: .set(Amount(1_000)), rateLimit: .set(100)), authority: .operator("t"))
        let paid = f.authorization(buyer, amount: 100)
        let (receipt, _) = try #require(settledReceipt(try await f.service.verify(paid)))
        let held = f.authorization(buyer, amount: 2_000)
        let id = try #require(heldId(try await f.service.verify(held)))
        let before = (try f.ledger.balance(buyer.address), try f.ledger.policy(buyer.address), try f.ledger.approval(id: id).0, f.ledger.totals)
        try f.reopen()
        #expect(try f.ledger.balance(buyer.address) == before.0)
        #expect(try f.ledger.policy(buyer.address) == before.1)
        #expect(try f.ledger.approval(id: id).0 == before.2)
        #expect(f.ledger.totals == before.3)
        #expect(try f.ledger.receipt(confirmationId: receipt.confirmationId) == receipt)
        // Nonces survive: the replay is recognised, the hold is the same hold.
        #expect(settledReceipt(try await f.service.verify(paid))?.1 == true)
        #expect(try heldId(await f.service.verify(held)) == id)
        _ = try await f.ledger.decide(approvalId: id, approve: true, by: "op", reason: nil)
        try f.reopen()
        #expect(try f.ledger.approval(id: id).0.status == .approved)
        #expect(try f.ledger.checkInvariants().isConsistent)
    }

    @Test func sixtyFourConcurrentSubmissionsDebitOnce() async throws {
        let f = try Fixture(); defer { f.close() }
        let buyer = Buyer(index: 21)
        try await f.fund(buyer, 1_000)
        let auth = f.authorization(buyer, amount: 10)
        let service = f.service
        let results = await withTaskGroup(of: Bool?.self) { group in
            for _ in 0..<64 { group.addTask { try? settledReceipt(await service.verify(auth))?.1 } }
            var out: [Bool?] = []
            for await r in group { out.append(r) }
            return out
        }
        #expect(results.count == 64 && results.allSatisfy { $0 != nil })
        #expect(results.filter { $0 == false }.count == 1) // exactly one fresh, 63 replays
        #expect(try f.ledger.balance(buyer.address).available == Amount(990))
    }

    @Test func concurrentDifferentPaymentsNeverOverdraw() async throws {
        let f = try Fixture(); defer { f.close() }
        let buyer = Buyer(index: 22)
        try await f.fund(buyer, 1_000)
        let auths = (0..<100).map { _ in f.authorization(buyer, amount: 37) }
        let service = f.service
        let ok = await withTaskGroup(of: Bool.self) { group in
            for a in auths { group.addTask { (try? await service.verify(a)) != nil } }
            var n = 0
            for await r in group where r { n += 1 }
            return n
        }
        #expect(ok == 1_000 / 37)
        #expect(try f.ledger.balance(buyer.address).available == Amount(UInt128(1_000 - 37 * ok)))
        #expect(try f.ledger.checkInvariants().isConsistent)
    }
}
